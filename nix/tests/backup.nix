# backup: services.maia.backup.enable dumps the maia database with maia-backup.service on
# its timer, leaves a host's own services.postgresqlBackup alone, and the dump restores (the
# README's restore commands) with the trace back.
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
      # The major version the dump and restore are tested with (NixOS' default for 26.05).
      services.postgresql.package = pkgs.postgresql_17;
      # The host backs up every database on its own; maia's backup must not change that.
      services.postgresqlBackup = {
        enable = true;
        backupAll = true;
      };
      environment.systemPackages = [ pkgs.curl ];
    };

  testScript = ''
    import json

    API = "http://127.0.0.1:8080"
    DUMP = "/var/backup/maia/maia.sql.gz"
    PREVIOUS = "/var/backup/maia/maia.prev.sql.gz"


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
        token = machine.succeed("maia-token create --name vm --scopes query,read").strip()
        AUTH = f"-H 'authorization: Bearer {token}'"
        body = json.dumps({"query": "Is this in the backup?"})
        answer = json.loads(
            machine.succeed(
                f"curl -sf {AUTH} -H 'content-type: application/json' -d {json.dumps(body)} {API}/api/consciousness/query"
            )
        )
        trace_id = answer["id"]

    with subtest("the daily backup unit is scheduled and produces a dump"):
        machine.succeed("systemctl list-timers --all | grep -F maia-backup.timer")
        machine.succeed("systemctl start maia-backup.service")
        machine.succeed(f"test -s {DUMP}")
        assert machine.succeed(f"stat -c %U:%a {DUMP}").strip() == "postgres:600"
        machine.succeed("systemctl start maia-backup.service")
        machine.succeed(f"test -s {PREVIOUS}")
        machine.succeed(f"gzip -dc {DUMP} | grep -F 'CREATE TABLE public.consciousness_traces'")
        machine.succeed(f"gzip -dc {DUMP} | grep -F {trace_id}")

    with subtest("the host's dump of every database still runs"):
        machine.succeed("systemctl list-timers --all | grep -F postgresqlBackup.timer")
        machine.succeed("systemctl start postgresqlBackup.service")
        machine.succeed("test -s /var/backup/postgresql/all.sql.gz")

    with subtest("the dump restores"):
        machine.succeed("systemctl stop maia.service maia-migrate.service")
        machine.succeed("runuser -u postgres -- dropdb maia")
        machine.succeed(f"gzip -dc {DUMP} | runuser -u postgres -- psql -v ON_ERROR_STOP=1 -d postgres")
        machine.succeed("systemctl start maia.service")
        wait_ready()
        assert psql(f"SELECT status FROM consciousness_traces WHERE id = '{trace_id}'") == "ok"
        trace = json.loads(machine.succeed(f"curl -sf {AUTH} {API}/api/traces/{trace_id}"))
        assert trace["id"] == trace_id, trace
  '';
}
