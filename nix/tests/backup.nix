# backup: services.maia.backup.enable dumps the maia database with services.postgresqlBackup;
# the dump restores (the README's restore commands) and the trace is back.
{ pkgs, self }:
pkgs.testers.runNixOSTest {
  name = "maia-backup";

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [
        self.nixosModules.default
        ./fake-ollama/module.nix
      ];
      services.maia = {
        enable = true;
        ollama.enable = false;
        ollama.url = "http://127.0.0.1:11434";
        backup.enable = true;
      };
      environment.systemPackages = [ pkgs.curl ];
    };

  testScript = ''
    import json

    API = "http://127.0.0.1:8080"
    DUMP = "/var/backup/postgresql/maia.sql.gz"


    def psql(sql, db="maia"):
        return machine.succeed(
            f"runuser -u postgres -- psql -d {db} -v ON_ERROR_STOP=1 -tAc " + json.dumps(sql)
        ).strip()


    def wait_ready():
        machine.wait_for_unit("maia.service")
        machine.wait_for_open_port(8080)
        machine.wait_until_succeeds(f"curl -sf {API}/readyz", timeout=60)


    start_all()
    machine.wait_for_unit("postgresql.target")
    machine.wait_for_unit("fake-ollama.service")
    wait_ready()

    with subtest("a trace to keep"):
        body = json.dumps({"query": "Is this in the backup?"})
        answer = json.loads(
            machine.succeed(
                f"curl -sf -H 'content-type: application/json' -d {json.dumps(body)} {API}/api/consciousness/query"
            )
        )
        trace_id = answer["id"]

    with subtest("the daily backup unit is scheduled and produces a dump"):
        machine.succeed("systemctl list-timers --all | grep -F postgresqlBackup-maia.timer")
        machine.succeed("systemctl start postgresqlBackup-maia.service")
        machine.succeed(f"test -s {DUMP}")
        machine.succeed(f"gzip -dc {DUMP} | grep -F 'CREATE TABLE public.consciousness_traces'")
        machine.succeed(f"gzip -dc {DUMP} | grep -F {trace_id}")

    with subtest("the dump restores"):
        machine.succeed("systemctl stop maia.service maia-migrate.service")
        machine.succeed("runuser -u postgres -- dropdb maia")
        machine.succeed(f"gzip -dc {DUMP} | runuser -u postgres -- psql -v ON_ERROR_STOP=1 -d postgres")
        machine.succeed("systemctl start maia.service")
        wait_ready()
        assert psql(f"SELECT status FROM consciousness_traces WHERE id = '{trace_id}'") == "ok"
        trace = json.loads(machine.succeed(f"curl -sf {API}/api/traces/{trace_id}"))
        assert trace["id"] == trace_id, trace
  '';
}
