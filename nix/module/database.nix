# The local PostgreSQL (`database.createLocally`): a database and role `maia`, reached over
# /run/postgresql with peer authentication, and the unit maia's services wait for.
{ config, lib, ... }:
let
  cfg = config.services.maia;
  inherit (lib)
    mkIf
    mkOption
    optional
    types
    ;
in
{
  options.services.maia.database = {
    createLocally = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Run a local PostgreSQL (`services.postgresql`) with a database and role `maia`,
        reached over `/run/postgresql` with peer authentication. When false, give a database
        through `settings.database.url`, `credentials.database_url` or `environmentFile`.
      '';
    };

    # Wanted, not required, by maia's units: a PostgreSQL restart must not stop and restart
    # maia, which reconnects by itself.
    units = mkOption {
      type = types.listOf types.str;
      internal = true;
      readOnly = true;
      default = optional cfg.database.createLocally "postgresql.target";
      description = "Units maia's services start after and want, for the local database.";
    };
  };

  config = mkIf (cfg.enable && cfg.database.createLocally) {
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
  };
}
