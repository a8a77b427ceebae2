# maia's own dump next to a host that backs up every database itself.
{ pkgs, ... }:
{
  services.maia = {
    enable = true;
    backup.enable = true;
  };
  services.postgresqlBackup = {
    enable = true;
    backupAll = true;
  };
  # NixOS sets a default (postgresql_17 for stateVersion 26.05); the stand-in has none.
  services.postgresql.package = pkgs.postgresql;
}
