# Knowledge (`knowledge.enable`, on by default): the extension pgvector in the local
# PostgreSQL, created in maia's database by the superuser (maia's role may not: pgvector is
# not a trusted extension), and the embedding model pulled by the local Ollama. maia sets
# knowledge's tables up itself when it migrates. Off, or with a database elsewhere that
# lacks pgvector, maia works without knowledge (its routes say what is missing).
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
    mkMerge
    mkOption
    types
    ;

  # Run by postgresql-setup.service as the superuser once it made the database, at every
  # start, so an upgraded pgvector is brought up to date too. Its `psql` is the unit's own:
  # the unit's `path` holds the server package with its extensions.
  createExtension = pkgs.writeShellScript "maia-pgvector" ''
    psql -d maia -v ON_ERROR_STOP=1 <<'SQL'
    CREATE EXTENSION IF NOT EXISTS vector;
    ALTER EXTENSION vector UPDATE;
    SQL
  '';
in
{
  options.services.maia.knowledge.enable = mkOption {
    type = types.bool;
    default = true;
    description = ''
      Knowledge, the owner's documents searched by meaning: pgvector in the local
      PostgreSQL (`database.createLocally`) and `settings.knowledge.embed_model` pulled by
      the local Ollama (`ollama.enable`). With a database elsewhere, pgvector must be
      installed there and `CREATE EXTENSION vector` run once in maia's database by a
      superuser.
    '';
  };

  config = mkIf (cfg.enable && cfg.knowledge.enable) (mkMerge [
    (mkIf cfg.database.createLocally {
      services.postgresql.extensions = ps: [ ps.pgvector ];
      systemd.services.postgresql-setup.serviceConfig.ExecStartPost = [ "${createExtension}" ];
    })
    (mkIf cfg.ollama.enable {
      services.ollama.loadModels = [ cfg.settings.knowledge.embed_model ];
    })
  ]);
}
