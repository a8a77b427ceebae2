# Traces kept a month and conversations a year; the purge's interval left at maia's own.
{
  services.maia = {
    enable = true;
    settings.retention = {
      traces_days = 30;
      conversations_days = 365;
    };
  };
}
