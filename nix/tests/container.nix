# container mode: the flake's image, loaded from its file (no registry), run by podman through
# virtualisation.oci-containers on the host network with the PostgreSQL socket mounted;
# migrations from the same image in maia-migrate.service; the image's own health check.
{ pkgs, self }:
pkgs.testers.runNixOSTest {
  name = "maia-container";

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [
        self.nixosModules.default
        ./fake-ollama/module.nix
      ];
      services.maia = {
        enable = true;
        mode = "container";
        ollama.enable = false;
        ollama.url = "http://127.0.0.1:11434";
      };
      virtualisation.oci-containers.backend = "podman";
      virtualisation.memorySize = 2048;
      virtualisation.diskSize = 4096;
      environment.systemPackages = [ pkgs.curl ];
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
        machine.wait_for_open_port(8080, timeout=180)
        machine.wait_until_succeeds(f"curl -sf {API}/readyz", timeout=120)


    start_all()
    machine.wait_for_unit("postgresql.target")
    machine.wait_for_unit("fake-ollama.service")
    machine.wait_for_unit("maia-migrate.service", timeout=300)
    wait_ready()

    with subtest("the image came from its file and runs as the static maia user"):
        machine.succeed("podman image exists maia:0.1.0")
        machine.succeed("podman ps --format '{{.Names}}' | grep -x maia")
        user = machine.succeed("podman inspect maia --format '{{.Config.User}}'").strip()
        assert user == "399:399", user
        machine.succeed("journalctl -u maia-migrate.service | grep -E 'applied +V1__'")
        assert psql("SELECT tableowner FROM pg_tables WHERE tablename = 'consciousness_traces'") == "maia"

    with subtest("health, from outside and from the image's own health check"):
        health = json.loads(machine.succeed(f"curl -sf {API}/api/health"))
        assert health["status"] == "healthy", health
        machine.wait_until_succeeds("podman healthcheck run maia", timeout=60)

    with subtest("a query is answered and stored"):
        token = machine.succeed("maia-token create --name vm --scopes query,read").strip()
        AUTH = f"-H 'authorization: Bearer {token}'"
        body = json.dumps({"query": "Does the container keep traces?", "mode": "deep", "persona": "socratic"})
        answer = json.loads(
            machine.succeed(
                f"curl -sf {AUTH} -H 'content-type: application/json' -d {json.dumps(body)} {API}/api/consciousness/query"
            )
        )
        assert "Does the container keep traces?" in answer["response"], answer
        trace_id = answer["id"]
        assert psql(f"SELECT status FROM consciousness_traces WHERE id = '{trace_id}'") == "ok"

    with subtest("the trace survives a restart of the container"):
        machine.succeed("systemctl restart maia.service")
        wait_ready()
        trace = json.loads(machine.succeed(f"curl -sf {AUTH} {API}/api/traces/{trace_id}"))
        assert trace["id"] == trace_id, trace
  '';
}
