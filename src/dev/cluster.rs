//! A private PostgreSQL cluster in a directory of ours, for `maia dev` and the tests.
//!
//! The cluster listens on 127.0.0.1 on a free port with its socket in the data directory,
//! and asks every client for a password (SCRAM; `pg_hba.conf` is maia's, rewritten at each
//! start): any local user could otherwise connect, and its superuser runs programs as the
//! cluster's OS user (`COPY … TO PROGRAM`). The superuser `maia`'s password is in
//! `superuser.password`; `maia dev` itself connects as `maia_app`, which is no superuser,
//! with the password in `app.password` (both files readable by their owner only, in a data
//! directory only its owner can enter). PostgreSQL refuses to run as root, so under root the
//! cluster runs as an unprivileged user (`postgres` if it exists, else `nobody`).

use std::fs::{self, Permissions};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::admin::Session;
use super::auth::{
    run_initdb_with_password, set_password_offline, write_pg_hba, APP_PASSWORD_FILE,
    SUPERUSER_PASSWORD_FILE,
};
use super::bindir::{explicit, find_bindir};
use super::error::{io, ClusterError};
use super::passwords::{
    new_password, percent_encoded, read_or_make_password_file, read_password_file,
    write_password_file,
};
use super::process::run;
use super::unprivileged::placement;
use crate::config::Secret;

const CONF_FILE: &str = "maia-dev.conf";
/// Unix socket paths are limited to 107 bytes; longer directories get no socket.
const MAX_SOCKET_DIR: usize = 90;

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Holds `pgdata/`, the socket, `postgres.log` and the password files.
    pub data_dir: PathBuf,
    /// Delete existing data first.
    pub fresh: bool,
    /// `false` for throwaway clusters (tests): much faster, not crash-safe.
    pub fsync: bool,
    /// The server programs to use; none: found as `bindir::find_bindir` says.
    pub bindir: Option<PathBuf>,
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
    superuser_password: Secret,
}

impl Cluster {
    /// The role that owns the cluster, and the databases the tests make.
    pub const SUPERUSER: &str = "maia";
    /// The role `maia dev` connects as: it owns its database and nothing more.
    pub const APP_ROLE: &str = "maia_app";

    /// Creates the cluster if needed (reusing existing data) and starts it.
    pub fn start(options: &ClusterOptions) -> Result<Self, ClusterError> {
        let bindir = match &options.bindir {
            Some(dir) => explicit(dir.clone())?,
            None => find_bindir()?,
        };
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
            // Set below, before anything connects.
            superuser_password: Secret::new(""),
        };
        cluster.superuser_password = cluster.prepare(options)?;
        cluster.chown_all()?;
        cluster.chown(&write_pg_hba(&cluster.pgdata)?)?;
        cluster.start_on_a_free_port(options.fsync)?;
        Ok(cluster)
    }

    /// A stopped cluster in `pgdata`, made if needed, whose superuser has a password in
    /// `superuser.password`: that password.
    fn prepare(&self, options: &ClusterOptions) -> Result<Secret, ClusterError> {
        if options.fresh && self.pgdata.exists() {
            self.stop_leftover();
            fs::remove_dir_all(&self.pgdata)
                .map_err(io(format!("cannot remove {}", self.pgdata.display())))?;
        }
        if !self.pgdata.join("PG_VERSION").exists() {
            return self.init(options.fsync);
        }
        // A previous run killed without cleanup leaves its server running.
        self.stop_leftover();
        match read_password_file(&self.superuser_password_file())? {
            Some(password) => Ok(password),
            None => self.set_superuser_password(),
        }
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

    /// Where the superuser's password is kept (readable by its owner only).
    pub fn superuser_password_file(&self) -> PathBuf {
        self.data_dir.join(SUPERUSER_PASSWORD_FILE)
    }

    /// Where the application role's password is kept (readable by its owner only).
    pub fn app_password_file(&self) -> PathBuf {
        self.data_dir.join(APP_PASSWORD_FILE)
    }

    /// A URL for `database` as the superuser, over loopback TCP, with its password.
    pub fn url(&self, database: &str) -> String {
        self.url_as(Self::SUPERUSER, &self.superuser_password, database)
    }

    fn url_as(&self, role: &str, password: &Secret, database: &str) -> String {
        format!(
            "postgresql://{role}:{}@127.0.0.1:{}/{database}",
            percent_encoded(password.expose()),
            self.port
        )
    }

    /// The directory holding the cluster's unix socket; none when the data directory's
    /// path is too long for a socket.
    pub fn socket_dir(&self) -> Option<&Path> {
        self.socket_dir.as_deref()
    }

    /// A URL for `database` as the superuser over the unix socket, with its password, when
    /// there is a socket.
    pub fn socket_url(&self, database: &str) -> Option<String> {
        self.socket_dir.as_ref().map(|dir| {
            format!(
                "postgresql:///{database}?host={}&port={}&user={}&password={}",
                dir.display(),
                self.port,
                Self::SUPERUSER,
                percent_encoded(self.superuser_password.expose())
            )
        })
    }

    /// Creates `database` unless it exists, owned by the superuser.
    pub async fn ensure_database(&self, database: &str) -> Result<(), ClusterError> {
        let session = Session::open(&self.url("postgres")).await?;
        let created = session.create_database(database, None).await;
        session.close().await;
        created
    }

    /// Makes `database` maia's own: the application role (its password made once, kept in
    /// `app.password`) owns it and what is in it, including what an older maia made as the
    /// superuser, and pgvector is there if the server has it. The URL to connect as that
    /// role.
    pub async fn ensure_app_database(&self, database: &str) -> Result<Secret, ClusterError> {
        let password = read_or_make_password_file(&self.app_password_file())?;
        let session = Session::open(&self.url("postgres")).await?;
        let mut done = session.ensure_app_role(Self::APP_ROLE, &password).await;
        if done.is_ok() {
            done = session
                .create_database(database, Some(Self::APP_ROLE))
                .await;
        }
        session.close().await;
        done?;
        let session = Session::open(&self.url(database)).await?;
        let mut handed_over = session
            .hand_over_database(database, Self::SUPERUSER, Self::APP_ROLE)
            .await;
        if handed_over.is_ok() {
            handed_over = session.enable_pgvector_if_there().await;
        }
        session.close().await;
        handed_over?;
        Ok(Secret::new(self.url_as(
            Self::APP_ROLE,
            &password,
            database,
        )))
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

    /// A new cluster whose superuser has a new password, kept in `superuser.password`: that
    /// password.
    fn init(&self, fsync: bool) -> Result<Secret, ClusterError> {
        if self.pgdata.exists() {
            // A half-made cluster from an interrupted initdb.
            fs::remove_dir_all(&self.pgdata)
                .map_err(io(format!("cannot remove {}", self.pgdata.display())))?;
        }
        self.chown(&self.data_dir)?;
        let mut command = self.command("initdb");
        command.arg("-D").arg(&self.pgdata).args([
            "-U",
            Self::SUPERUSER,
            "-E",
            "UTF8",
            "--no-locale",
        ]);
        if !fsync {
            command.arg("--no-sync");
        }
        let password = new_password()?;
        run_initdb_with_password(command, &self.data_dir, &password, |path| self.chown(path))?;
        write_password_file(&self.superuser_password_file(), &password)?;
        let conf = self.pgdata.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(io("cannot read postgresql.conf"))?;
        text.push_str(&format!("\ninclude_if_exists = '{CONF_FILE}'\n"));
        fs::write(&conf, text).map_err(io("cannot write postgresql.conf"))?;
        Ok(password)
    }

    /// Gives the superuser of the stopped cluster a new password, kept in
    /// `superuser.password`: that password. For a cluster an older maia made, which trusted
    /// every local connection and had none, or when the file was deleted.
    fn set_superuser_password(&self) -> Result<Secret, ClusterError> {
        let password = new_password()?;
        let postgres = self.command("postgres");
        set_password_offline(postgres, &self.pgdata, Self::SUPERUSER, &password)?;
        write_password_file(&self.superuser_password_file(), &password)?;
        eprintln!(
            "maia: the PostgreSQL cluster in {} now asks for passwords; the superuser's is in {}",
            self.data_dir.display(),
            self.superuser_password_file().display()
        );
        Ok(password)
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
        run(command, &format!("pg_ctl {}", args[0]), None).map_err(|e| match e {
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

    /// The cluster's user owns the data directory, which only its owner can enter (it holds
    /// the password files and the socket).
    fn chown_all(&self) -> Result<(), ClusterError> {
        fs::set_permissions(&self.data_dir, Permissions::from_mode(0o700))
            .map_err(io(format!("cannot restrict {}", self.data_dir.display())))?;
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

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("cannot find a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("cannot find a free port"))?
        .port())
}
