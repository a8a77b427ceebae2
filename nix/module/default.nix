# NixOS module for maia: `services.maia`. Exported by the flake as nixosModules.maia (and
# .default). This entry point declares the options no single concern owns (what runs, the
# mode, the secrets, the firewall), the assertions and the firewall rule; each file it
# imports has one job. Every option of nixpkgs read or set here is listed, with the file that
# uses it and the nixpkgs file it was checked against, in nix/README.md under "NixOS options
# used by the module".
{ self }:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.maia;
  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkOption
    optional
    types
    ;

  # Only this file sees the flake. Lazy: resolving `imports` does not force it (or pkgs).
  flakePackages = self.packages.${pkgs.stdenv.hostPlatform.system};

  loopbackListen =
    lib.hasPrefix "127." cfg.settings.http.listen
    || lib.hasPrefix "[::1]:" cfg.settings.http.listen
    || lib.hasPrefix "localhost:" cfg.settings.http.listen;
in
{
  imports = [
    # The settings, and the checked file they render to (container mode checks it with the
    # image's static binary, hence the flake's packages).
    (lib.modules.importApply ./settings.nix { inherit flakePackages; })
    ./database.nix
    ./ollama.nix
    ./knowledge.nix
    ./backup.nix
    ./tokens.nix
    ./systemd.nix
    ./container.nix
  ];

  options.services.maia = {
    enable = mkEnableOption "maia, a self-hosted AI query service (local Ollama, PostgreSQL)";

    package = mkOption {
      type = types.package;
      default = flakePackages.maia;
      defaultText = literalExpression "maia.packages.\${pkgs.stdenv.hostPlatform.system}.maia";
      description = "The maia package (used in `systemd` mode and to check the configuration).";
    };

    image = mkOption {
      type = types.package;
      default = flakePackages.image;
      defaultText = literalExpression "maia.packages.\${pkgs.stdenv.hostPlatform.system}.image";
      description = ''
        The container image (a docker-archive from `dockerTools.buildLayeredImage`) run in
        `container` mode. It is loaded from this file; no registry is contacted.
      '';
    };

    mode = mkOption {
      type = types.enum [
        "systemd"
        "container"
      ];
      default = "systemd";
      description = ''
        How maia runs: `systemd` runs the package as a hardened service with a dynamic user;
        `container` runs the flake's image through `virtualisation.oci-containers` (host
        network, the PostgreSQL socket mounted). Both use the same settings, database and
        Ollama wiring, and both run migrations in `maia-migrate.service` before the server.
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr types.externalPath;
      default = null;
      example = "/run/secrets/maia.env";
      description = ''
        A file of `NAME=value` lines added to maia's environment, outside the Nix store:
        the place for `MAIA_DATABASE__PASSWORD`, `MAIA_DATABASE__URL` and the like.
        In `container` mode it is passed to the container as `--env-file` (no quotes
        around values).
      '';
    };

    credentials = {
      database_password = mkOption {
        type = types.nullOr types.externalPath;
        default = null;
        example = "/run/secrets/maia-db-password";
        description = ''
          File holding the database password, handed to maia as the systemd credential
          `database_password` (`LoadCredential`): readable only by the service.
        '';
      };
      database_url = mkOption {
        type = types.nullOr types.externalPath;
        default = null;
        example = "/run/secrets/maia-db-url";
        description = ''
          File holding the whole database URL (password included), handed to maia as the
          systemd credential `database_url`.
        '';
      };
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the port of `settings.http.listen` in the firewall.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion =
          cfg.database.createLocally
          || cfg.settings.database.url != null
          || cfg.credentials.database_url != null
          || cfg.environmentFile != null;
        message = ''
          services.maia.database.createLocally is false, so maia needs a database: set
          services.maia.settings.database.url (no password in it), or
          services.maia.credentials.database_url (a file), or MAIA_DATABASE__URL in
          services.maia.environmentFile.
        '';
      }
      {
        assertion = cfg.database.createLocally -> cfg.credentials.database_url == null;
        message = ''
          services.maia.credentials.database_url is set but services.maia.database.createLocally
          is true: the URL would replace the local database. Set createLocally = false to use it.
        '';
      }
      {
        assertion = !(cfg.settings.database ? password);
        message = ''
          services.maia.settings.database.password would be written to the world-readable
          Nix store. Use services.maia.credentials.database_password (a file) or
          MAIA_DATABASE__PASSWORD in services.maia.environmentFile.
        '';
      }
      {
        assertion = !(cfg.ollama.enable && cfg.ollama.url != null);
        message = ''
          services.maia.ollama.url points at an external Ollama while services.maia.ollama.enable
          also runs a local one. Set services.maia.ollama.enable = false to use the external one.
        '';
      }
      {
        assertion = !(cfg.ollama.url != null && cfg.ollama.urls != [ ]);
        message = ''
          services.maia.ollama.url and services.maia.ollama.urls are both set. Set
          services.maia.ollama.urls alone (ollama.url is for one server).
        '';
      }
      {
        assertion = cfg.backup.enable -> cfg.database.createLocally;
        message = ''
          services.maia.backup dumps the local PostgreSQL (maia-backup.service); with
          database.createLocally = false, back the database up where it runs.
        '';
      }
      {
        assertion = lib.all (name: builtins.match "[a-z0-9][a-z0-9._-]{0,63}" name != null) (
          lib.attrNames cfg.tokens
        );
        message = ''
          services.maia.tokens: a token's name is lowercase letters, digits, '.', '_' and
          '-', at most 64, starting with a letter or digit.
        '';
      }
      {
        assertion =
          cfg.mode == "container" -> lib.all (v: v == null) (lib.attrValues cfg.credentials);
        message = ''
          services.maia.credentials are systemd credentials, which the container cannot read
          in container mode. Use services.maia.environmentFile there.
        '';
      }
    ];

    networking.firewall.allowedTCPPorts = optional cfg.openFirewall cfg.listenPort;
    warnings = optional (cfg.openFirewall && loopbackListen) ''
      services.maia.openFirewall opens port ${toString cfg.listenPort}, but maia listens on
      ${cfg.settings.http.listen} (loopback only). Set services.maia.settings.http.listen,
      e.g. to "0.0.0.0:${toString cfg.listenPort}".
    '';
  };
}
