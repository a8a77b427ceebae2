# Several Ollama servers: the local one and two GPU boxes on the LAN, allowed by name.
{
  services.maia = {
    enable = true;
    ollama.urls = [
      "http://gpu-a.lan:11434"
      "http://gpu-b.lan:11434"
    ];
    settings.ollama.max_concurrent = 12;
    settings.sovereignty.allow_hosts = [ "*.lan" ];
  };
}
