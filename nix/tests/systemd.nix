# systemd mode: local PostgreSQL (peer auth over /run/postgresql), a fake Ollama, migrations
# in maia-migrate.service before the server; a query is answered, stored, and still there
# after a restart; knowledge: pgvector created by the module, a document added and cited; tokens: none is refused, one from `maia-token` works and one provisioned
# from a file works; a failed migration keeps the server down and says why in the journal.
{ pkgs, self }:
let
  provisioned = "maia_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
in
pkgs.testers.runNixOSTest {
  name = "maia-systemd";

  nodes.machine =
    { config, pkgs, ... }:
    {
      imports = [
        self.nixosModules.default
        ./fake-ollama/module.nix
      ];
      services.maia = {
        enable = true;
        # The VM has no network: no real Ollama, no model downloads.
        ollama.enable = false;
        ollama.url = "http://127.0.0.1:11434";
        tokens.provisioned.file = "/etc/maia-test-token";
      };
      # A token for the test only (a real one is a secret outside the store).
      environment.etc."maia-test-token".text = "${provisioned}";
      # curl for the API; maia itself for `maia healthcheck`, as a container would run it.
      environment.systemPackages = [
        pkgs.curl
        config.services.maia.package
      ];
    };

  testScript = ''
    import json

    API = "http://127.0.0.1:8080"


    def psql(sql):
        return machine.succeed(
            "runuser -u postgres -- psql -d maia -v ON_ERROR_STOP=1 -tAc " + json.dumps(sql)
        ).strip()


    def wait_ready():
        machine.wait_for_unit("maia.service")
        machine.wait_for_open_port(8080)
        machine.wait_until_succeeds(f"curl -sf {API}/readyz", timeout=60)


    start_all()
    machine.wait_for_unit("postgresql.target")
    machine.wait_for_unit("fake-ollama.service")
    machine.wait_for_unit("maia-migrate.service")
    wait_ready()

    with subtest("migrations ran in maia-migrate.service, as the maia role"):
        machine.succeed("journalctl -u maia-migrate.service | grep -E 'applied +V1__'")
        assert psql("SELECT tableowner FROM pg_tables WHERE tablename = 'consciousness_traces'") == "maia"

    with subtest("the service is hardened and runs as a dynamic user"):
        show = machine.succeed(
            "systemctl show maia.service -p DynamicUser -p User -p ProtectSystem -p NoNewPrivileges -p LimitNOFILE"
        )
        # LimitNOFILE: three per connection for http.max_connections = 512, and headroom.
        for expected in ["DynamicUser=yes", "User=maia", "ProtectSystem=strict", "NoNewPrivileges=yes", "LimitNOFILE=2048"]:
            assert expected in show, show
        machine.fail("journalctl -u maia.service | grep -F 'open-files limit is'")

    with subtest("health reports the database and Ollama"):
        health = json.loads(machine.succeed(f"curl -sf {API}/api/health"))
        assert health["status"] == "healthy", health
        assert health["migrations"]["pending"] == 0, health
        machine.succeed(f"maia healthcheck --url {API}/api/health")

    with subtest("no token, no answer; maia-token makes one; a provisioned one works"):
        code = machine.succeed(f"curl -s -o /dev/null -w '%{{http_code}}' {API}/api/personas")
        assert code == "401", code
        token = machine.succeed("maia-token create --name vm --scopes query,read,admin").strip()
        assert token.startswith("maia_"), token
        AUTH = f"-H 'authorization: Bearer {token}'"
        machine.succeed(f"curl -sf -H 'authorization: Bearer ${provisioned}' {API}/api/personas")
        listed = machine.succeed("maia-token list")
        assert "vm" in listed and "provisioned" in listed and token not in listed, listed

    with subtest("a query is answered and stored"):
        body = json.dumps({"query": "What survives a restart?", "mode": "fast", "persona": "pragmatist"})
        answer = json.loads(
            machine.succeed(
                f"curl -sf {AUTH} -H 'content-type: application/json' -d {json.dumps(body)} {API}/api/consciousness/query"
            )
        )
        assert "What survives a restart?" in answer["response"], answer
        assert answer["model"] == "llama3.2:3b", answer
        trace_id = answer["id"]
        assert psql(f"SELECT status FROM consciousness_traces WHERE id = '{trace_id}'") == "ok"

    with subtest("knowledge: pgvector from the module, a document added and cited"):
        assert psql("SELECT extname FROM pg_extension WHERE extname = 'vector'") == "vector"
        assert psql("SELECT model FROM knowledge_embedding") == "nomic-embed-text"
        doc = json.dumps({"title": "Backups", "content": "The nightly dump runs at 01:15."})
        machine.succeed(
            f"curl -sf {AUTH} -H 'content-type: application/json' -d {json.dumps(doc)} {API}/api/documents"
        )
        ask = json.dumps({"query": "When does the nightly dump run?", "knowledge": True, "k": 1})
        cited = json.loads(
            machine.succeed(
                f"curl -sf {AUTH} -H 'content-type: application/json' -d {json.dumps(ask)} {API}/api/consciousness/query"
            )
        )
        assert [c["title"] for c in cited["citations"]] == ["Backups"], cited

    with subtest("the trace survives a restart"):
        machine.succeed("systemctl restart maia.service")
        wait_ready()
        assert psql(f"SELECT status FROM consciousness_traces WHERE id = '{trace_id}'") == "ok"
        trace = json.loads(machine.succeed(f"curl -sf {AUTH} {API}/api/traces/{trace_id}"))
        assert trace["id"] == trace_id, trace

    with subtest("a failed migration keeps the server down and says why"):
        machine.succeed("systemctl stop maia.service maia-migrate.service")
        psql("ALTER ROLE maia NOLOGIN")
        machine.fail("systemctl start maia.service")
        machine.fail("systemctl is-active maia.service")
        machine.succeed("journalctl -u maia-migrate.service | grep -F 'maia: migrate:'")
        psql("ALTER ROLE maia LOGIN")
        machine.succeed("systemctl start maia.service")
        wait_ready()
  '';
}
