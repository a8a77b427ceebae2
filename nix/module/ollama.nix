# The local Ollama (`ollama.enable`): nixpkgs' services.ollama, pulling the models maia's
# settings name, and the unit maia's server waits for. An Ollama elsewhere is `ollama.url`;
# several servers are `ollama.urls` (with the local one first when it runs).
{ config, lib, ... }:
let
  cfg = config.services.maia;
  inherit (lib)
    mkIf
    mkOption
    optional
    types
    ;

  models = lib.unique (
    [ cfg.settings.ollama.model ]
    ++ optional (cfg.settings.ollama.deep_model != null) cfg.settings.ollama.deep_model
  );
in
{
  options.services.maia.ollama = {
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

    urls = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "http://gpu-a.lan:11434"
        "http://gpu-b.lan:11434"
      ];
      description = ''
        Several Ollama servers; each call goes to one that has its model and the fewest
        calls in flight, and one that fails is skipped for a while (see the README's
        "Several Ollama hosts"). With `ollama.enable`, the local Ollama comes first and
        these after it. Set this or `ollama.url`, not both. Every host outside this
        machine's private network must be listed in `settings.sovereignty.allow_hosts`.
        `settings.ollama.max_concurrent` bounds the calls to all of them together.
      '';
    };

    # Wanted, not required, like the database: maia reconnects by itself.
    units = mkOption {
      type = types.listOf types.str;
      internal = true;
      readOnly = true;
      default = optional cfg.ollama.enable "ollama.service";
      description = "Units maia's server starts after and wants, for the local Ollama.";
    };
  };

  config = mkIf (cfg.enable && cfg.ollama.enable) {
    services.ollama = {
      enable = true;
      loadModels = models;
    };
  };
}
