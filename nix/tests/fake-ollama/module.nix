# For the VM tests (no network, no models): fake-ollama.service speaks Ollama's HTTP API on
# 127.0.0.1:11434 and offers llama3.2:3b and the embedding model nomic-embed-text. Imported
# by the tests in ../; not a test itself (nix/checks.nix only picks up files directly in
# nix/tests/).
{ pkgs, ... }:
{
  systemd.services.fake-ollama = {
    description = "Fake Ollama for the maia VM tests";
    wantedBy = [ "multi-user.target" ];
    before = [
      "maia-migrate.service"
      "maia.service"
    ];
    serviceConfig = {
      Type = "exec";
      DynamicUser = true;
      ExecStart = "${pkgs.python3}/bin/python3 ${./fake-ollama.py} --host 127.0.0.1 --port 11434 --model llama3.2:3b --model nomic-embed-text";
    };
  };
}
