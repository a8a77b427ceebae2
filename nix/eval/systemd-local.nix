# The README's first example: local PostgreSQL and Ollama, systemd mode, defaults.
{
  services.maia.enable = true;
}
