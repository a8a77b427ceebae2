# Container mode with its secrets in an environment file.
{
  services.maia = {
    enable = true;
    mode = "container";
    environmentFile = "/run/secrets/maia.env";
    tokens.laptop.file = "/run/secrets/maia-laptop-token";
  };
}
