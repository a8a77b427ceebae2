# Tokens provisioned from files, in both modes' shape (systemd here; the container
# configuration in container.nix adds one too).
{
  services.maia = {
    enable = true;
    tokens.laptop.file = "/run/secrets/maia-laptop-token";
    tokens.grafana = {
      file = "/run/secrets/maia-grafana-token";
      scopes = [ "read" ];
    };
  };
}
