# systemd mode (`mode = "systemd"`, the default): the package run directly as maia.service,
# after its migrations in maia-migrate.service, both as a dynamic user in the sandbox of
# ./sandbox.nix.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.maia;
  inherit (lib) mkIf optional;

  # Who the units run as, and where their state lives.
  identity = {
    DynamicUser = true;
    User = "maia";
    Group = "maia";
    StateDirectory = "maia";
    StateDirectoryMode = "0700";
    WorkingDirectory = "/var/lib/maia";
  };
  # Secrets stay outside the Nix store: an environment file, and systemd credentials that
  # only the unit can read.
  secrets = {
    EnvironmentFile = optional (cfg.environmentFile != null) cfg.environmentFile;
    LoadCredential = lib.mapAttrsToList (name: path: "${name}:${path}") (
      lib.filterAttrs (_: v: v != null) cfg.credentials
    );
  };
  sandbox = import ./sandbox.nix { privilegedPort = cfg.listenPort < 1024; };
  common = identity // secrets // sandbox;

  databaseUnits = cfg.database.units;
  ollamaUnits = cfg.ollama.units;
  maia = "${lib.getExe cfg.package} --config ${cfg.configFile}";

  # Provisioned tokens: each file handed to maia-migrate as a credential, stored after the
  # migrations (`%d` is the unit's credentials directory).
  tokenCredentials = lib.mapAttrsToList (name: t: "token-${name}:${t.file}") cfg.tokens;
  storeTokens = lib.mapAttrsToList (
    name: t:
    "${maia} token create --name ${name} --scopes ${lib.concatStringsSep "," t.scopes} --from-file %d/token-${name}"
  ) cfg.tokens;

  # `sudo maia-token create --name NAME`: maia's token commands as the service's own
  # (dynamic) user, with its configuration and secrets, in a transient unit, so that
  # PostgreSQL's peer authentication lets it in as it lets the service in.
  maiaToken = pkgs.writeShellApplication {
    name = "maia-token";
    text = ''
      if [ "$(id -u)" != 0 ]; then
        echo "maia-token: run it as root (sudo maia-token …): it runs maia as the service's user" >&2
        exit 1
      fi
      exec systemd-run --quiet --wait --pipe --collect --service-type=exec \
        ${
          lib.escapeShellArgs (
            map (p: "--property=${p}") (
              [
                "DynamicUser=yes"
                "User=maia"
                "Group=maia"
              ]
              ++ map (f: "EnvironmentFile=${f}") secrets.EnvironmentFile
              ++ map (c: "LoadCredential=${c}") secrets.LoadCredential
            )
          )
        } \
        ${maia} token "$@"
    '';
  };
in
{
  config = mkIf (cfg.enable && cfg.mode == "systemd") {
    environment.systemPackages = [ maiaToken ];

    systemd.services.maia-migrate = {
      description = "maia database migrations";
      after = [ "network.target" ] ++ databaseUnits;
      wants = databaseUnits;
      before = [ "maia.service" ];
      serviceConfig = common // {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${maia} migrate";
        ExecStartPost = storeTokens;
        LoadCredential = secrets.LoadCredential ++ tokenCredentials;
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
      serviceConfig = common // {
        Type = "exec";
        ExecStart = "${maia} serve";
        LimitNOFILE = cfg.openFilesLimit;
        Restart = "on-failure";
        RestartSec = 5;
      };
    };
  };
}
