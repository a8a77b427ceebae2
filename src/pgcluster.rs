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

/// Role that owns the cluster and every database in it.
pub const SUPERUSER: &str = "maia";
const CONF_FILE: &str = "maia-dev.conf";
/// Where a root-run cluster goes when its own directory is out of the cluster user's reach.
const STAND_IN_ROOT: &str = "/var/tmp";
/// Unix socket paths are limited to 107 bytes; longer directories get no socket.
const MAX_SOCKET_DIR: usize = 90;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server programs (initdb, pg_ctl) were not found on PATH or under \
         /usr/lib/postgresql/*/bin. Install them: `sudo apt-get install postgresql` \
         (Debian/Ubuntu), `sudo dnf install postgresql-server` (Fedora), \
         `brew install postgresql@16` (macOS), or use `nix run`; or set MAIA_PG_BINDIR \
         to the directory that holds them"
    )]
    NotInstalled,
    #[error("{0}")]
    Setup(String),
    #[error("`{command}` failed: {output}")]
    Command { command: String, output: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

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
        let mut data_dir = options
            .data_dir
            .canonicalize()
            .map_err(io(format!("cannot resolve {}", options.data_dir.display())))?;
        let run_as = if running_as_root() {
            Some(unprivileged_user()?)
        } else {
            None
        };
        if let Some((uid, _)) = run_as {
            // Under root in a checkout below /root, the cluster's user cannot reach the
            // chosen directory: keep the cluster in a stable place it can reach instead.
            if check_reachable(&data_dir, uid).is_err() {
                let stand_in = PathBuf::from(STAND_IN_ROOT).join(format!(
                    "maia-dev-{:016x}",
                    fnv1a(data_dir.as_os_str().as_encoded_bytes())
                ));
                fs::create_dir_all(&stand_in)
                    .map_err(io(format!("cannot create {}", stand_in.display())))?;
                eprintln!(
                    "maia: {} is not reachable by the PostgreSQL user (uid {uid}); the cluster lives in {} instead",
                    data_dir.display(),
                    stand_in.display()
                );
                data_dir = stand_in;
            }
        }
        let pgdata = data_dir.join("pgdata");
        let socket_dir = (data_dir.as_os_str().len() <= MAX_SOCKET_DIR).then(|| data_dir.clone());
        let mut cluster = Cluster {
            bindir,
            data_dir,
            pgdata,
            socket_dir,
            port: 0,
            run_as,
            running: false,
        };
        if let Some((uid, _)) = cluster.run_as {
            check_reachable(&cluster.data_dir, uid)?;
        }
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
        // A free port can be taken between our probe and PostgreSQL's bind: try a few.
        let mut last_error = None;
        for _ in 0..3 {
            cluster.port = free_port()?;
            cluster.write_conf(options.fsync)?;
            match cluster.pg_ctl(&["start", "-w", "-t", "60", "-l"], true) {
                Ok(()) => {
                    cluster.running = true;
                    return Ok(cluster);
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
    pub async fn ensure_database(&self, database: &str) -> anyhow::Result<()> {
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .await?
            .is_some();
        if !exists {
            let quoted = format!("\"{}\"", database.replace('"', "\"\""));
            client
                .batch_execute(&format!("CREATE DATABASE {quoted}"))
                .await?;
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

/// `MAIA_PG_BINDIR`, then PATH, then Debian's versioned directories (newest first).
pub fn find_bindir() -> Result<PathBuf, ClusterError> {
    find_bindir_in(
        std::env::var_os("MAIA_PG_BINDIR").map(PathBuf::from),
        std::env::var_os("PATH"),
        Path::new(DEBIAN_ROOT),
    )
}

const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

fn find_bindir_in(
    explicit: Option<PathBuf>,
    path: Option<std::ffi::OsString>,
    debian_root: &Path,
) -> Result<PathBuf, ClusterError> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = explicit {
        return if has_tools(&dir) {
            Ok(dir)
        } else {
            Err(ClusterError::Setup(format!(
                "MAIA_PG_BINDIR={} holds no initdb and pg_ctl",
                dir.display()
            )))
        };
    }
    if let Some(path) = path {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_tools(d)) {
            return Ok(dir);
        }
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir(debian_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versioned.sort();
    versioned
        .pop()
        .map(|(_, dir)| dir)
        .ok_or(ClusterError::NotInstalled)
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("cannot find a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("cannot find a free port"))?
        .port())
}

/// The effective uid from /proc; where there is no /proc (macOS), not root.
fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// `postgres` if the system has it (the packages create it), else `nobody`.
fn unprivileged_user() -> Result<(u32, u32), ClusterError> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(io("cannot read /etc/passwd"))?;
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4 && fields[0] == name)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
    };
    find("postgres").or_else(|| find("nobody")).ok_or_else(|| {
        ClusterError::Setup(
            "running as root, and there is no `postgres` or `nobody` user to run PostgreSQL as"
                .into(),
        )
    })
}

/// A stable 64-bit FNV-1a hash: the same directory always maps to the same stand-in.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Under root the cluster runs as another user, who must be able to reach the directory.
fn check_reachable(dir: &Path, uid: u32) -> Result<(), ClusterError> {
    use std::os::unix::fs::MetadataExt;
    for ancestor in dir.ancestors().skip(1) {
        let meta =
            fs::metadata(ancestor).map_err(io(format!("cannot stat {}", ancestor.display())))?;
        let searchable =
            meta.mode() & 0o001 != 0 || (meta.uid() == uid && meta.mode() & 0o100 != 0);
        if !searchable {
            return Err(ClusterError::Setup(format!(
                "running as root, PostgreSQL runs as uid {uid}, which cannot enter {}; \
                 use --data-dir with a directory it can reach (e.g. /var/tmp/maia-dev) \
                 or run maia as a normal user",
                ancestor.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("maia-pgc-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn fake_tools(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("initdb"), "").unwrap();
        fs::write(dir.join("pg_ctl"), "").unwrap();
    }

    #[test]
    fn no_binaries_anywhere_says_what_to_install() {
        let root = scratch("none");
        let err = find_bindir_in(None, Some("/nonexistent".into()), &root).unwrap_err();
        assert!(matches!(err, ClusterError::NotInstalled));
        let text = err.to_string();
        assert!(text.contains("apt-get install postgresql"), "{text}");
        assert!(text.contains("MAIA_PG_BINDIR"), "{text}");
    }

    #[test]
    fn the_newest_debian_version_is_chosen_after_path() {
        let root = scratch("debian");
        fake_tools(&root.join("9/bin"));
        fake_tools(&root.join("16/bin"));
        fake_tools(&root.join("15/bin"));
        let found = find_bindir_in(None, None, &root).unwrap();
        assert_eq!(found, root.join("16/bin"));
        let on_path = scratch("path");
        fake_tools(&on_path);
        let found = find_bindir_in(None, Some(on_path.clone().into_os_string()), &root).unwrap();
        assert_eq!(found, on_path);
    }

    #[test]
    fn an_explicit_directory_without_the_tools_is_an_error() {
        let empty = scratch("explicit");
        let err = find_bindir_in(Some(empty.clone()), None, Path::new("/nonexistent")).unwrap_err();
        assert!(err.to_string().contains("MAIA_PG_BINDIR"));
    }
}
