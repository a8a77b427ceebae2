# NixOS module for maia: `services.maia`. Exported by the flake as nixosModules.maia (and
# .default). Every option of nixpkgs read or set here is listed, with the nixpkgs file it was
# checked against, in nix/README.md under "NixOS options used by the module".
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
    mkMerge
    mkOption
    optional
    optionals
    types
    ;

  flakePackages = self.packages.${pkgs.stdenv.hostPlatform.system};
  settingsFormat = pkgs.formats.toml { };

  # Peer authentication over the local socket: unit user = PostgreSQL role = database = maia.
  # The role is named in the URL because the container image has no passwd entry for the
  # uid the container runs as, and tokio-postgres would otherwise ask the OS for a name.
  localDatabaseUrl = "postgresql:///maia?host=/run/postgresql&user=maia";

  # services.ollama.host is a listen address; maia needs an address to connect to.
  connectHost =
    host:
    if host == "0.0.0.0" || host == "" then
      "127.0.0.1"
    else if host == "::" || host == "[::]" then
      "[::1]"
    else if lib.hasInfix ":" host && !lib.hasPrefix "[" host then
      "[${host}]"
    else
      host;
  localOllamaUrl = "http://${connectHost config.services.ollama.host}:${toString config.services.ollama.port}";

  # TOML has no null: unset typed keys are left out, so maia's own defaults apply.
  renderedSettings = lib.filterAttrsRecursive (_: v: v != null) cfg.settings;
  settingsFile = settingsFormat.generate "maia.toml" renderedSettings;
  # The binary that checks the rendered file: in container mode the image's own static
  # one (already built for the image, no second build with a test suite).
  checker =
    if cfg.mode == "container" then
      flakePackages."maia-static-${if pkgs.stdenv.hostPlatform.isAarch64 then "arm64" else "amd64"}"
    else
      cfg.package;
  # A bad configuration fails the system build, not the boot (skipped when the build
  # machine cannot run the host's maia).
  configFile =
    if pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform then
      pkgs.runCommand "maia-checked.toml" { } ''
        ${lib.getExe checker} check --offline --config ${settingsFile}
        cp ${settingsFile} $out
      ''
    else
      settingsFile;

  listenPort = lib.toInt (lib.last (lib.splitString ":" cfg.settings.http.listen));
  privilegedPort = listenPort < 1024;
  loopbackListen =
    lib.hasPrefix "127." cfg.settings.http.listen
    || lib.hasPrefix "[::1]:" cfg.settings.http.listen
    || lib.hasPrefix "localhost:" cfg.settings.http.listen;

  credentialList = lib.mapAttrsToList (name: path: "${name}:${path}") (
    lib.filterAttrs (_: v: v != null) cfg.credentials
  );

  models = lib.unique (
    [ cfg.settings.ollama.model ]
    ++ optional (cfg.settings.ollama.deep_model != null) cfg.settings.ollama.deep_model
  );

  # Units maia starts after, by where its database and Ollama live. Wanted, not required:
  # a PostgreSQL restart must not stop and restart maia, which reconnects by itself.
  databaseUnits = optional cfg.database.createLocally "postgresql.target";
  ollamaUnits = optional cfg.ollama.enable "ollama.service";

  # Container mode.
  backend = config.virtualisation.oci-containers.backend;
  # dockerTools' images carry the reference they load as: `imageName` (a derivation
  # attribute, `lib.toLower name`) and `imageTag` (passthru). The fallback name is for
  # nixcheck's stand-in, which lacks `imageName`; with nixpkgs it is never used.
  imageRef = "${cfg.image.imageName or "maia"}:${cfg.image.imageTag}";
  containerConfigPath = "/etc/maia/maia.toml";
  containerUser = "${toString cfg.container.uid}:${toString cfg.container.uid}";
  # The image sets MAIA_HTTP__LISTEN and MAIA_LOG__FORMAT, and the environment wins over
  # the file: pass this module's values so both modes serve the same way.
  containerEnvironment = {
    MAIA_HTTP__LISTEN = cfg.settings.http.listen;
    MAIA_LOG__FORMAT = cfg.settings.log.format;
  };
  containerVolumes = [
    "${configFile}:${containerConfigPath}:ro"
  ]
  ++ optional cfg.database.createLocally "/run/postgresql:/run/postgresql";
  containerOptions = [
    "--network=host"
    "--read-only"
    "--cap-drop=ALL"
    "--security-opt=no-new-privileges"
  ];

  hardening = {
    DynamicUser = true;
    User = "maia";
    Group = "maia";
    StateDirectory = "maia";
    StateDirectoryMode = "0700";
    WorkingDirectory = "/var/lib/maia";
    EnvironmentFile = optional (cfg.environmentFile != null) cfg.environmentFile;
    LoadCredential = credentialList;

    AmbientCapabilities = if privilegedPort then [ "CAP_NET_BIND_SERVICE" ] else [ "" ];
    CapabilityBoundingSet = if privilegedPort then [ "CAP_NET_BIND_SERVICE" ] else [ "" ];
    DevicePolicy = "closed";
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    NoNewPrivileges = true;
    PrivateDevices = true;
    PrivateMounts = true;
    PrivateTmp = true;
    PrivateUsers = !privilegedPort;
    ProcSubset = "pid";
    ProtectClock = true;
    ProtectControlGroups = true;
    ProtectHome = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectProc = "invisible";
    ProtectSystem = "strict";
    RemoveIPC = true;
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
    ];
    UMask = "0077";
  };
in
{
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

    settings = mkOption {
      default = { };
      description = ''
        maia's configuration, rendered to the TOML file it reads (see the README's
        Configuration table for every key). Unknown keys are rejected at build time by
        `maia check --offline`. Never put secrets here: the file is in the Nix store. Use
        [](#opt-services.maia.credentials) or [](#opt-services.maia.environmentFile).
      '';
      example = literalExpression ''
        {
          http.listen = "0.0.0.0:8080";
          ollama.deep_model = "qwen2.5:14b";
          log.format = "json";
        }
      '';
      type = types.submodule {
        freeformType = settingsFormat.type;
        options = {
          http.listen = mkOption {
            type = types.strMatching ".*:[0-9]+";
            default = "127.0.0.1:8080";
            example = "0.0.0.0:8080";
            description = "Address and port to serve HTTP on.";
          };
          database.url = mkOption {
            type = types.nullOr types.str;
            default = if cfg.database.createLocally then localDatabaseUrl else null;
            defaultText = literalExpression ''
              if config.services.maia.database.createLocally
              then "${localDatabaseUrl}"
              else null
            '';
            description = ''
              PostgreSQL URL without a password. For a URL that carries one, use
              `credentials.database_url`; for the password alone, `credentials.database_password`.
            '';
          };
          ollama.url = mkOption {
            type = types.nullOr types.str;
            default =
              if cfg.ollama.url != null then
                cfg.ollama.url
              else if cfg.ollama.enable then
                localOllamaUrl
              else
                null;
            defaultText = literalExpression ''
              config.services.maia.ollama.url, or the local services.ollama's host and port
            '';
            description = "The Ollama server. Set [](#opt-services.maia.ollama.url) instead.";
          };
          ollama.model = mkOption {
            type = types.str;
            default = "llama3.2:3b";
            description = "Model for `fast` queries; pulled by the local Ollama.";
          };
          ollama.deep_model = mkOption {
            type = types.nullOr types.str;
            default = null;
            example = "qwen2.5:14b";
            description = "Model for `deep` queries (default: `ollama.model`); pulled by the local Ollama.";
          };
          database.migrate_on_start = mkOption {
            type = types.bool;
            default = false;
            description = ''
              Whether `maia serve` applies pending migrations itself. Off: in both modes
              `maia-migrate.service` applies them once, before the server starts.
            '';
          };
          log.format = mkOption {
            type = types.enum [
              "pretty"
              "json"
            ];
            default = "pretty";
            description = "Log line format (the journal keeps either).";
          };
        };
      };
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

    database.createLocally = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Run a local PostgreSQL (`services.postgresql`) with a database and role `maia`,
        reached over `/run/postgresql` with peer authentication. When false, give a database
        through `settings.database.url`, `credentials.database_url` or `environmentFile`.
      '';
    };

    ollama = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Run a local Ollama (`services.ollama`) that pulls `settings.ollama.model` and
          `settings.ollama.deep_model`; maia's Ollama URL then follows its host and port.
        '';
      };
      url = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "http://gpu-box.lan:11434";
        description = ''
          An Ollama elsewhere (with `ollama.enable = false`). A host outside this machine's
          private network must be listed in `settings.sovereignty.allow_hosts`.
        '';
      };
    };

    backup = {
      enable = mkEnableOption "a daily dump of the local maia database (`maia-backup.service`)";
      location = mkOption {
        type = types.str;
        default = "/var/backup/maia";
        description = ''
          Directory of the dumps, readable by `postgres` only. The newest dump is
          `maia.sql.gz` there, the one before it `maia.prev.sql.gz`. maia has a unit of its
          own, so `services.postgresqlBackup` (and a host's backup of every database
          through it) is left as the host configures it.
        '';
      };
      startAt = mkOption {
        type = with types; either str (listOf str);
        default = "*-*-* 01:15:00";
        description = "When to dump, as a systemd calendar event (`systemd.time(7)`).";
      };
    };

    container.uid = mkOption {
      type = types.ints.between 1 65533;
      default = 399;
      description = ''
        In `container` mode: uid and gid of the static system user `maia` the container
        runs as. PostgreSQL's peer authentication maps the connecting uid to a name through
        the host's users, so the container's uid must be a host user named `maia`. The
        default is the top of NixOS' static range (ids.nix allocates below 400), outside the
        range NixOS allocates system users from (400-999).
      '';
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
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
          assertion = cfg.backup.enable -> cfg.database.createLocally;
          message = ''
            services.maia.backup dumps the local PostgreSQL (services.postgresqlBackup); with
            database.createLocally = false, back the database up where it runs.
          '';
        }
        {
          assertion = cfg.mode == "container" -> credentialList == [ ];
          message = ''
            services.maia.credentials are systemd credentials, which the container cannot read
            in container mode. Use services.maia.environmentFile there.
          '';
        }
      ];
    }

    (mkIf cfg.database.createLocally {
      services.postgresql = {
        enable = true;
        ensureDatabases = [ "maia" ];
        ensureUsers = [
          {
            name = "maia";
            ensureDBOwnership = true;
          }
        ];
      };
    })

    (mkIf cfg.ollama.enable {
      services.ollama = {
        enable = true;
        loadModels = models;
      };
    })

    (mkIf cfg.backup.enable {
      systemd.tmpfiles.rules = [ "d '${cfg.backup.location}' 0700 postgres postgres - -" ];
      systemd.services.maia-backup = {
        description = "Dump the maia database";
        after = databaseUnits;
        wants = databaseUnits;
        inherit (cfg.backup) startAt;
        path = [
          config.services.postgresql.package
          pkgs.gzip
        ];
        serviceConfig = {
          Type = "oneshot";
          User = "postgres";
          Group = "postgres";
          UMask = "0077";
        };
        # The previous dump is replaced only once the new one is whole.
        script = ''
          set -o pipefail
          cd ${lib.escapeShellArg cfg.backup.location}
          pg_dump --create maia | gzip -c > maia.sql.gz.partial
          if [ -e maia.sql.gz ]; then mv -f maia.sql.gz maia.prev.sql.gz; fi
          mv maia.sql.gz.partial maia.sql.gz
        '';
      };
    })

    {
      networking.firewall.allowedTCPPorts = optional cfg.openFirewall listenPort;
      warnings = optional (cfg.openFirewall && loopbackListen) ''
        services.maia.openFirewall opens port ${toString listenPort}, but maia listens on
        ${cfg.settings.http.listen} (loopback only). Set services.maia.settings.http.listen,
        e.g. to "0.0.0.0:${toString listenPort}".
      '';
    }

    (mkIf (cfg.mode == "systemd") {
      systemd.services.maia-migrate = {
        description = "maia database migrations";
        after = [ "network.target" ] ++ databaseUnits;
        wants = databaseUnits;
        before = [ "maia.service" ];
        serviceConfig = hardening // {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${lib.getExe cfg.package} --config ${configFile} migrate";
        };
      };

      systemd.services.maia = {
        description = "maia AI query service";
        wantedBy = [ "multi-user.target" ];
        after = [
          "network.target"
          "maia-migrate.service"
        ]
        ++ databaseUnits
        ++ ollamaUnits;
        requires = [ "maia-migrate.service" ];
        wants = databaseUnits ++ ollamaUnits;
        serviceConfig = hardening // {
          Type = "exec";
          ExecStart = "${lib.getExe cfg.package} --config ${configFile} serve";
          Restart = "on-failure";
          RestartSec = 5;
        };
      };
    })

    (mkIf (cfg.mode == "container") {
      users.users.maia = {
        isSystemUser = true;
        group = "maia";
        uid = cfg.container.uid;
        description = "maia (container mode)";
      };
      users.groups.maia.gid = cfg.container.uid;

      virtualisation.oci-containers.containers.maia = {
        image = imageRef;
        imageFile = cfg.image;
        pull = "never";
        # The unit is maia.service in both modes.
        serviceName = "maia";
        user = containerUser;
        cmd = [
          "--config"
          containerConfigPath
          "serve"
        ];
        environment = containerEnvironment;
        environmentFiles = optional (cfg.environmentFile != null) cfg.environmentFile;
        volumes = containerVolumes;
        extraOptions = containerOptions;
      };

      # Migrations from the same image, as a oneshot before the server (root, like the
      # container unit: the backend needs it). Its PATH is the container unit's.
      systemd.services.maia-migrate = {
        description = "maia database migrations (container image)";
        after = [ "network.target" ] ++ databaseUnits ++ optional (backend == "docker") "docker.service";
        requires = optional (backend == "docker") "docker.service";
        wants = databaseUnits;
        before = [ "maia.service" ];
        inherit (config.systemd.services.maia) path;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = ''
          ${backend} load -i ${cfg.image}
          ${backend} rm -f maia-migrate >/dev/null 2>&1 || true
          exec ${
            lib.escapeShellArgs (
              [
                backend
                "run"
                "--rm"
                "--name=maia-migrate"
                "--pull=never"
                "--user=${containerUser}"
              ]
              ++ containerOptions
              ++ lib.concatMap (v: [ "--volume=${v}" ]) containerVolumes
              ++ lib.mapAttrsToList (k: v: "--env=${k}=${v}") containerEnvironment
              ++ optionals (cfg.environmentFile != null) [ "--env-file=${cfg.environmentFile}" ]
              ++ [
                imageRef
                "--config"
                containerConfigPath
                "migrate"
              ]
            )
          }
        '';
      };

      systemd.services.maia = {
        after = [ "maia-migrate.service" ] ++ databaseUnits ++ ollamaUnits;
        requires = [ "maia-migrate.service" ];
        wants = databaseUnits ++ ollamaUnits;
      };
    })
  ]);

}
