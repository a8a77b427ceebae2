//! A private PostgreSQL cluster in a directory of ours, for `maia dev` and the tests.
//!
//! The cluster listens on 127.0.0.1 on a free port with its socket in the data directory,
//! trusts local connections (it is only reachable from this machine) and has a superuser
//! `maia`. PostgreSQL refuses to run as root, so under root the cluster runs as an
//! unprivileged user (`postgres` if it exists, else `nobody`).

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::bindir::find_bindir;
use super::error::{io, ClusterError};
use super::unprivileged::placement;

/// Role that owns the cluster and every database in it.
pub const SUPERUSER: &str = "maia";
const CONF_FILE: &str = "maia-dev.conf";
/// Unix socket paths are limited to 107 bytes; longer directories get no socket.
const MAX_SOCKET_DIR: usize = 90;

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Holds `pgdata/`, the socket and `postgres.log`.
    pub data_dir: PathBuf,
    /// Delete existing data first.
    pub fresh: bool,
    /// `false` for throwaway clusters (tests): much faster, not crash-safe.
    pub fsync: bool,
}

#[derive(Debug)]
pub struct Cluster {
    bindir: PathBuf,
    data_dir: PathBuf,
    pgdata: PathBuf,
    socket_dir: Option<PathBuf>,
    port: u16,
    run_as: Option<(u32, u32)>,
    running: bool,
}

impl Cluster {
    /// Creates the cluster if needed (reusing existing data) and starts it.
    pub fn start(options: &ClusterOptions) -> Result<Self, ClusterError> {
        let bindir = find_bindir()?;
        fs::create_dir_all(&options.data_dir)
            .map_err(io(format!("cannot create {}", options.data_dir.display())))?;
        let data_dir = options
            .data_dir
            .canonicalize()
            .map_err(io(format!("cannot resolve {}", options.data_dir.display())))?;
        let (data_dir, run_as) = placement(data_dir)?;
        let mut cluster = Cluster {
            bindir,
            pgdata: data_dir.join("pgdata"),
            socket_dir: (data_dir.as_os_str().len() <= MAX_SOCKET_DIR).then(|| data_dir.clone()),
            data_dir,
            port: 0,
            run_as,
            running: false,
        };
        if options.fresh && cluster.pgdata.exists() {
            cluster.stop_leftover();
            fs::remove_dir_all(&cluster.pgdata)
                .map_err(io(format!("cannot remove {}", cluster.pgdata.display())))?;
        }
        if !cluster.pgdata.join("PG_VERSION").exists() {
            cluster.init(options.fsync)?;
        } else {
            // A previous run killed without cleanup leaves its server running.
            cluster.stop_leftover();
        }
        cluster.chown_all()?;
        cluster.start_on_a_free_port(options.fsync)?;
        Ok(cluster)
    }

    /// A free port can be taken between our probe and PostgreSQL's bind: try a few.
    fn start_on_a_free_port(&mut self, fsync: bool) -> Result<(), ClusterError> {
        let mut last_error = None;
        for _ in 0..3 {
            self.port = free_port()?;
            self.write_conf(fsync)?;
            match self.pg_ctl(&["start", "-w", "-t", "60", "-l"], true) {
                Ok(()) => {
                    self.running = true;
                    return Ok(());
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt was made"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A URL for `database` as the superuser, over loopback TCP.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// The directory holding the cluster's unix socket; none when the data directory's
    /// path is too long for a socket.
    pub fn socket_dir(&self) -> Option<&Path> {
        self.socket_dir.as_deref()
    }

    /// A URL for `database` as the superuser over the unix socket, when there is one.
    pub fn socket_url(&self, database: &str) -> Option<String> {
        self.socket_dir.as_ref().map(|dir| {
            format!(
                "postgresql:///{database}?host={}&port={}&user={SUPERUSER}",
                dir.display(),
                self.port
            )
        })
    }

    /// Creates `database` unless it exists.
    pub async fn ensure_database(&self, database: &str) -> Result<(), ClusterError> {
        let sql =
            |e: tokio_postgres::Error| ClusterError::Setup(format!("creating {database}: {e}"));
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .map_err(sql)?;
        let driver = tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .await
            .map_err(sql)?
            .is_some();
        if !exists {
            let quoted = format!("\"{}\"", database.replace('"', "\"\""));
            client
                .batch_execute(&format!("CREATE DATABASE {quoted}"))
                .await
                .map_err(sql)?;
        }
        drop(client);
        let _ = driver.await;
        Ok(())
    }

    /// Stops the server, waiting for it to shut down.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        if self.running {
            self.running = false;
            self.pg_ctl(&["stop", "-w", "-m", "fast"], false)?;
        }
        Ok(())
    }

    /// Starts a stopped cluster again with its data, on the same port (the fault tests
    /// take the database away and bring it back under clients that keep its URL).
    pub fn start_again(&mut self) -> Result<(), ClusterError> {
        if !self.running {
            self.pg_ctl(&["start", "-w", "-t", "60", "-l"], true)?;
            self.running = true;
        }
        Ok(())
    }

    /// Stops the cluster and deletes its directory once process `pid` has exited, even if
    /// it is killed: for throwaway clusters held in statics, which are never dropped.
    /// (Run as the cluster's user, `kill -0` on a root process fails: /proc tells instead.)
    pub fn remove_when_process_exits(&self, pid: u32) -> Result<(), ClusterError> {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null || [ -d /proc/{pid} ]; do sleep 1; done; \"$0\" stop -D \"$1\" -m immediate; rm -rf \"$2\""
        );
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg(self.bindir.join("pg_ctl"))
            .arg(&self.pgdata)
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
            .process_group(0)
            .spawn()
            .map_err(io("cannot start the cluster watchdog"))?;
        Ok(())
    }

    fn init(&self, fsync: bool) -> Result<(), ClusterError> {
        if self.pgdata.exists() {
            // A half-made cluster from an interrupted initdb.
            fs::remove_dir_all(&self.pgdata)
                .map_err(io(format!("cannot remove {}", self.pgdata.display())))?;
        }
        self.chown(&self.data_dir)?;
        let mut command = self.command("initdb");
        command.arg("-D").arg(&self.pgdata).args([
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]);
        if !fsync {
            command.arg("--no-sync");
        }
        run(command, "initdb")?;
        let conf = self.pgdata.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(io("cannot read postgresql.conf"))?;
        text.push_str(&format!("\ninclude_if_exists = '{CONF_FILE}'\n"));
        fs::write(&conf, text).map_err(io("cannot write postgresql.conf"))
    }

    fn write_conf(&self, fsync: bool) -> Result<(), ClusterError> {
        let socket = self
            .socket_dir
            .as_ref()
            .map(|d| d.display().to_string().replace('\'', "''"))
            .unwrap_or_default();
        let mut text = format!(
            "# Written by maia at every start.\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{socket}'\n",
            self.port
        );
        if !fsync {
            text.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let path = self.pgdata.join(CONF_FILE);
        fs::write(&path, text).map_err(io(format!("cannot write {}", path.display())))?;
        self.chown(&path)
    }

    fn stop_leftover(&self) {
        if self.pgdata.join("postmaster.pid").exists() {
            let _ = self.pg_ctl(&["stop", "-w", "-m", "fast"], false);
        }
    }

    fn pg_ctl(&self, args: &[&str], with_log: bool) -> Result<(), ClusterError> {
        let mut command = self.command("pg_ctl");
        command.arg("-D").arg(&self.pgdata);
        command.args(args);
        if with_log {
            command.arg(self.data_dir.join("postgres.log"));
        }
        run(command, &format!("pg_ctl {}", args[0])).map_err(|e| match e {
            ClusterError::Command { command, output } if with_log => ClusterError::Command {
                command,
                output: format!(
                    "{output}\n(see {} for the server's own messages)",
                    self.data_dir.join("postgres.log").display()
                ),
            },
            other => other,
        })
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bindir.join(program));
        command.stdin(Stdio::null()).current_dir(&self.data_dir);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        // A terminal's Ctrl-C must reach maia, which then stops the cluster in order.
        command.process_group(0);
        command
    }

    fn chown(&self, path: &Path) -> Result<(), ClusterError> {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(io(format!("cannot chown {}", path.display())))?;
        }
        Ok(())
    }

    fn chown_all(&self) -> Result<(), ClusterError> {
        if self.run_as.is_none() {
            return Ok(());
        }
        self.chown(&self.data_dir)?;
        let log = self.data_dir.join("postgres.log");
        if log.exists() {
            self.chown(&log)?;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("stopping PostgreSQL: {e}");
        }
    }
}

fn run(mut command: Command, name: &str) -> Result<(), ClusterError> {
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(io(format!("cannot run {name}")))?;
    if output.status.success() {
        Ok(())
    } else {
        let mut text = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if text.is_empty() {
            text = String::from_utf8_lossy(&output.stdout).trim().to_string();
        }
        Err(ClusterError::Command {
            command: name.to_string(),
            output: text,
        })
    }
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("cannot find a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("cannot find a free port"))?
        .port())
}
