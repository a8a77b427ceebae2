# Container mode (`mode = "container"`): the flake's image, loaded from its file, run by
# virtualisation.oci-containers as maia.service under a static user `maia`, after its
# migrations from the same image in maia-migrate.service.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.maia;
  inherit (lib)
    mkIf
    mkOption
    optional
    optionals
    types
    ;

  databaseUnits = cfg.database.units;
  ollamaUnits = cfg.ollama.units;

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
    "${cfg.configFile}:${containerConfigPath}:ro"
  ]
  ++ optional cfg.database.createLocally "/run/postgresql:/run/postgresql";
  containerOptions = [
    "--network=host"
    "--read-only"
    "--cap-drop=ALL"
    "--security-opt=no-new-privileges"
  ];

  # `BACKEND run` of a one-shot maia command from the image, as the server runs it.
  runMaia =
    extraOptions: args:
    lib.escapeShellArgs (
      [
        backend
        "run"
        "--rm"
        "--pull=never"
        "--user=${containerUser}"
      ]
      ++ extraOptions
      ++ containerOptions
      ++ lib.concatMap (v: [ "--volume=${v}" ]) containerVolumes
      ++ lib.mapAttrsToList (k: v: "--env=${k}=${v}") containerEnvironment
      ++ optionals (cfg.environmentFile != null) [ "--env-file=${cfg.environmentFile}" ]
      ++ [
        imageRef
        "--config"
        containerConfigPath
      ]
      ++ args
    );

  # Provisioned tokens: root reads each file and hands it to the container on standard
  # input (the container's user could not read a root-only secret).
  storeTokens = lib.concatStrings (
    lib.mapAttrsToList (name: t: ''
      ${runMaia [ "--interactive" ] [
        "token"
        "create"
        "--name"
        name
        "--scopes"
        (lib.concatStringsSep "," t.scopes)
        "--from-file"
        "/dev/stdin"
      ]} < ${lib.escapeShellArg t.file}
    '') cfg.tokens
  );

  # `sudo maia-token create --name NAME`: maia's token commands inside the running
  # container, with its configuration and environment.
  maiaToken = pkgs.writeShellApplication {
    name = "maia-token";
    text = ''
      exec ${backend} exec --interactive maia maia --config ${containerConfigPath} token "$@"
    '';
  };
in
{
  options.services.maia.container.uid = mkOption {
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

  config = mkIf (cfg.enable && cfg.mode == "container") {
    environment.systemPackages = [ maiaToken ];

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
      extraOptions = containerOptions ++ [
        "--ulimit=nofile=${toString cfg.openFilesLimit}:${toString cfg.openFilesLimit}"
      ];
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
        ${runMaia [ "--name=maia-migrate" ] [ "migrate" ]}
        ${storeTokens}
      '';
    };

    systemd.services.maia = {
      after = [ "maia-migrate.service" ] ++ databaseUnits ++ ollamaUnits;
      requires = [ "maia-migrate.service" ];
      wants = databaseUnits ++ ollamaUnits;
    };
  };
}
