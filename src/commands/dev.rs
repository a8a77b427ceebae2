//! `maia dev`: a private PostgreSQL cluster, migrations, the server; one command.

use std::path::Path;
use std::process::ExitCode;

use secrecy::SecretString;

use crate::pgcluster::{Cluster, ClusterOptions};
use crate::settings::Settings;

/// The database `maia dev` creates in its cluster.
const DATABASE: &str = "maia";

pub fn run(mut settings: Settings, data_dir: &Path, fresh: bool) -> ExitCode {
    let options = ClusterOptions {
        data_dir: data_dir.to_path_buf(),
        fresh,
        fsync: true,
    };
    eprintln!("maia dev: starting PostgreSQL in {}", data_dir.display());
    let cluster = match Cluster::start(&options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("maia dev: cannot start PostgreSQL: {e}");
            return ExitCode::FAILURE;
        }
    };
    settings.database.url = SecretString::from(cluster.url(DATABASE));
    settings.database.password = None;
    settings.database.ca_file = None;
    settings.database.migrate_on_start = true;
    // The dev stack is for this machine only, unless a listen address was chosen.
    if settings.http.listen == Settings::default().http.listen {
        settings.http.listen = "127.0.0.1:8080".into();
    }
    eprintln!(
        "maia dev: PostgreSQL listens on 127.0.0.1:{} (data in {}); serving on http://{}",
        cluster.port(),
        cluster.data_dir().display(),
        settings.http.listen
    );

    let code = actix_web::rt::System::new().block_on(async move {
        if let Err(e) = cluster_database(&cluster).await {
            eprintln!("maia dev: cannot create the database: {e:#}");
            return (cluster, ExitCode::FAILURE);
        }
        let code = match super::serve::serve(settings).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("maia dev: cannot start: {e}");
                ExitCode::FAILURE
            }
        };
        (cluster, code)
    });
    let (mut cluster, code) = code;
    eprintln!("maia dev: stopping PostgreSQL");
    if let Err(e) = cluster.stop() {
        eprintln!("maia dev: stopping PostgreSQL: {e}");
        return ExitCode::FAILURE;
    }
    code
}

async fn cluster_database(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.ensure_database(DATABASE).await
}
