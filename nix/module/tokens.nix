# Access tokens provisioned from files, so a machine can be set up with no interactive step:
# each file holds a token (`maia_…`, made anywhere with `maia token create` or
# `echo maia_$(head -c32 /dev/urandom | basenc --base64url | tr -d =)`), and maia stores its
# hash under the name, before the server starts. Running it again changes nothing. The mode
# files (systemd.nix, container.nix) do the storing, each in its own way.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.services.maia.tokens = mkOption {
    default = { };
    example = lib.literalExpression ''
      {
        laptop = { file = "/run/secrets/maia-laptop-token"; };
        grafana = { file = "/run/secrets/maia-grafana-token"; scopes = [ "read" ]; };
        prometheus = { file = "/run/secrets/maia-prometheus-token"; scopes = [ "metrics" ]; };
      }
    '';
    description = ''
      Tokens to store at start, by name, each from a file outside the Nix store. The
      token in the file is what clients send (`Authorization: Bearer maia_…`); maia keeps
      only its hash. Revoke one with `maia-token revoke NAME` and remove it here.
    '';
    type = types.attrsOf (
      types.submodule {
        options = {
          file = mkOption {
            type = types.externalPath;
            description = "File holding the token (one line, `maia_` and 43 characters).";
          };
          scopes = mkOption {
            type = types.listOf (
              types.enum [
                "query"
                "read"
                "admin"
                "metrics"
              ]
            );
            default = [
              "query"
              "read"
            ];
            description = "What the token may do: `query` (ask), `read` (history), `admin`, `metrics` (`GET /metrics` only: a scraper's token; no other scope implies it).";
          };
        };
      }
    );
  };
}
