# A council of two personas, merged by the coach.
{
  services.maia = {
    enable = true;
    settings.council = {
      personas = [
        "socratic"
        "pragmatist"
      ];
      synthesizer = "coach";
    };
  };
}
