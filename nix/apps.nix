# `nix run` (the dev stack) and `nix run .#push -- REGISTRY/REPO[:TAG]`.
{ pkgs, self }:
let
  inherit (pkgs) lib;
  packages = self.packages.${pkgs.stdenv.hostPlatform.system};
  # The tag the images carry (nix/image.nix): the crate version.
  imageTag = (lib.importTOML ../Cargo.toml).package.version;

  # `maia dev` finds initdb and pg_ctl on PATH: nixpkgs' PostgreSQL with pgvector (for
  # knowledge; its extension directory is linked into the environment, whose programs
  # find it beside them), nothing to install.
  dev = pkgs.writeShellApplication {
    name = "maia-dev";
    runtimeInputs = [
      packages.maia
      (pkgs.postgresql.withPackages (ps: [ ps.pgvector ]))
    ];
    text = ''
      exec maia dev "$@"
    '';
  };

  push = pkgs.writeShellApplication {
    name = "maia-push";
    runtimeInputs = [ pkgs.skopeo ];
    text = ''
      if [ $# -ne 1 ] || [ -z "$1" ]; then
        echo "usage: nix run .#push -- REGISTRY/REPOSITORY[:TAG]   (TAG defaults to ${imageTag})" >&2
        exit 64
      fi
      dest=$1
      # A tag is what follows the last ':' after the last '/'; a registry port is not one.
      case "''${dest##*/}" in
        *:*) ;;
        *) dest="$dest:${imageTag}" ;;
      esac
      echo "pushing amd64 + arm64 as docker://$dest" >&2
      # --insecure-policy: no signature policy is needed to push our own archive (hosts
      # without /etc/containers/policy.json would fail otherwise); TLS is still verified.
      # --preserve-digests: refuse to recompress, so the registry gets the digests we built.
      exec skopeo --insecure-policy copy --all --preserve-digests \
        "oci-archive:${packages.image-index}" "docker://$dest"
    '';
  };

  app = drv: description: {
    type = "app";
    program = lib.getExe drv;
    meta = { inherit description; };
  };
in
{
  default = app dev "maia dev: a private PostgreSQL with pgvector, migrations applied, the server on 127.0.0.1:8080";
  push = app push "Push the amd64 + arm64 image index to a registry";
}
