# systemd mode (`mode = "systemd"`, the default): the package run directly as maia.service,
# after its migrations in maia-migrate.service, both as a dynamic user in the sandbox of
# ./sandbox.nix.
{ config, lib, ... }:
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
in
{
  config = mkIf (cfg.enable && cfg.mode == "systemd") {
    systemd.services.maia-migrate = {
      description = "maia database migrations";
      after = [ "network.target" ] ++ databaseUnits;
      wants = databaseUnits;
      before = [ "maia.service" ];
      serviceConfig = common // {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${lib.getExe cfg.package} --config ${cfg.configFile} migrate";
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
        ExecStart = "${lib.getExe cfg.package} --config ${cfg.configFile} serve";
        Restart = "on-failure";
        RestartSec = 5;
      };
    };
  };
}
