# maia's own backup (`backup.enable`): a daily dump of the local maia database by
# maia-backup.service and its timer. Not services.postgresqlBackup, which would change a
# host's backup of every database (nix/README.md, "Decisions from the review").
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.maia;
  inherit (lib)
    mkEnableOption
    mkIf
    mkOption
    types
    ;
in
{
  options.services.maia.backup = {
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

  config = mkIf (cfg.enable && cfg.backup.enable) {
    systemd.tmpfiles.rules = [ "d '${cfg.backup.location}' 0700 postgres postgres - -" ];
    systemd.services.maia-backup = {
      description = "Dump the maia database";
      after = cfg.database.units;
      wants = cfg.database.units;
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
  };
}
