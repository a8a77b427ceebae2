//! How the cluster lets clients in: maia's own `pg_hba.conf`, asking everyone for a
//! password, and the superuser's password, given by initdb or, in a cluster an older maia
//! made without one, set in single-user mode.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::admin::set_password_statement;
use super::error::{io, ClusterError};
use super::passwords::write_password_file;
use super::process::run;
use crate::config::Secret;

/// The superuser's password, beside `pgdata`, readable by its owner only.
pub const SUPERUSER_PASSWORD_FILE: &str = "superuser.password";
/// The application role's password, there too.
pub const APP_PASSWORD_FILE: &str = "app.password";
/// initdb's copy of the superuser password, there while initdb runs.
const INITDB_PASSWORD_FILE: &str = "initdb.password";
/// A password (SCRAM) from every client, over the socket and loopback; nobody else.
const PG_HBA: &str = "\
# Written by maia at every start: every connection gives a password.
local all all                scram-sha-256
host  all all 127.0.0.1/32   scram-sha-256
host  all all ::1/128        scram-sha-256
";

/// Writes maia's `pg_hba.conf` into `pgdata`, over whatever is there; its path.
pub fn write_pg_hba(pgdata: &Path) -> Result<PathBuf, ClusterError> {
    let path = pgdata.join("pg_hba.conf");
    fs::write(&path, PG_HBA).map_err(io(format!("cannot write {}", path.display())))?;
    Ok(path)
}

/// Runs `initdb` (ready but for authentication) so that its superuser has `password`. The
/// password goes through a file in `data_dir` made over to the user initdb runs as by
/// `give_to_cluster_user` (under root that user cannot read maia's own file), removed
/// once initdb is done.
pub fn run_initdb_with_password(
    mut initdb: Command,
    data_dir: &Path,
    password: &Secret,
    give_to_cluster_user: impl Fn(&Path) -> Result<(), ClusterError>,
) -> Result<(), ClusterError> {
    let password_file = data_dir.join(INITDB_PASSWORD_FILE);
    write_password_file(&password_file, password)?;
    let made = give_to_cluster_user(&password_file).and_then(|()| {
        initdb
            .arg("--auth=scram-sha-256")
            .arg("--pwfile")
            .arg(&password_file);
        run(initdb, "initdb", None)
    });
    let _ = fs::remove_file(&password_file);
    made
}

/// Gives `role` `password` in the stopped cluster in `pgdata`, in single-user mode: no
/// connection, so no login either. `postgres` is the server program, run as the cluster's
/// user.
pub fn set_password_offline(
    mut postgres: Command,
    pgdata: &Path,
    role: &str,
    password: &Secret,
) -> Result<(), ClusterError> {
    postgres
        .arg("--single")
        .arg("-D")
        .arg(pgdata)
        // Otherwise a failed statement still ends in success.
        .args(["-c", "exit_on_error=on", "postgres"]);
    let statement = set_password_statement(role, password);
    run(postgres, "postgres --single", Some(&statement))
}
