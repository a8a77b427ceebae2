# maia's configuration: the `settings` option, the TOML file it renders to (checked at build
# time) and the port it listens on. The file and the port are internal read-only options:
# the other files read them rather than compute them again.
{ flakePackages }:
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
    mkOption
    types
    ;

  settingsFormat = pkgs.formats.toml { };

  # A persona's name as maia reads it: a letter, then letters, digits, `-` and `_`, at most 64
  # (any case; maia keeps it in lowercase).
  personaName = types.strMatching "[A-Za-z][A-Za-z0-9_-]{0,63}";

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
in
{
  options.services.maia = {
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
          ollama.urls = mkOption {
            type = types.nullOr (types.listOf types.str);
            default =
              if cfg.ollama.urls == [ ] then
                null
              else
                lib.optional cfg.ollama.enable localOllamaUrl ++ cfg.ollama.urls;
            defaultText = literalExpression ''
              config.services.maia.ollama.urls, after the local services.ollama's URL when
              it runs; null (ollama.url alone) when empty
            '';
            description = "Several Ollama servers. Set [](#opt-services.maia.ollama.urls) instead.";
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
          knowledge.embed_model = mkOption {
            type = types.str;
            # maia's own default, named here so that the local Ollama can pull it.
            default = "nomic-embed-text";
            description = ''
              The embedding model of knowledge; pulled by the local Ollama. Changing it
              needs `maia docs reembed` (see the README's Knowledge section).
            '';
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
          retention.traces_days = mkOption {
            type = types.nullOr (types.ints.between 0 36500);
            default = null;
            example = 30;
            description = ''
              Days a trace is kept; `maia serve` purges older ones. `0` keeps them forever, as
              does null (maia's own default). See the README's Retention section.
            '';
          };
          retention.conversations_days = mkOption {
            type = types.nullOr (types.ints.between 0 36500);
            default = null;
            example = 365;
            description = ''
              Days a conversation is kept after its last message; then it is purged with its
              messages and the traces of its exchanges. `0` keeps them forever, as does null
              (maia's own default).
            '';
          };
          council.personas = mkOption {
            # As maia checks them: 2 to 8 distinct names, each one a request could name.
            type = types.nullOr (
              types.addCheck (types.listOf personaName) (
                names: lib.length names >= 2 && lib.length names <= 8 && lib.allUnique names
              )
            );
            default = null;
            example = [
              "socratic"
              "pragmatist"
            ];
            description = ''
              The personas a `council` question asks at once: 2 to 8 distinct persona names.
              Null: maia's own default (socratic, contrarian, pragmatist). See the README's
              Council section.
            '';
          };
          council.synthesizer = mkOption {
            type = types.nullOr personaName;
            default = null;
            example = "synthesizer";
            description = ''
              The persona that merges a council's answers into one; null: maia's own default
              (`synthesizer`).
            '';
          };
        };
      };
    };

    configFile = mkOption {
      type = types.package;
      internal = true;
      readOnly = true;
      default = configFile;
      description = ''
        The rendered `settings`, checked by `maia check --offline` where the build machine
        can run it.
      '';
    };

    openFilesLimit = mkOption {
      type = types.ints.positive;
      default = 3 * (cfg.settings.http.max_connections or 512) + 512;
      defaultText = lib.literalExpression "3 * (config.services.maia.settings.http.max_connections or 512) + 512";
      description = ''
        The open-files limit of the server (`LimitNOFILE`, or the container's `nofile`
        ulimit). Each connection takes up to three descriptors; below what
        `settings.http.max_connections` needs, maia warns at start.
      '';
    };

    listenPort = mkOption {
      type = types.int;
      internal = true;
      readOnly = true;
      default = lib.toInt (lib.last (lib.splitString ":" cfg.settings.http.listen));
      description = "The port of `settings.http.listen`.";
    };
  };
}
