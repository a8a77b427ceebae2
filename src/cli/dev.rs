//! `maia dev`: a private PostgreSQL cluster, migrations, the server; one command.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Secret, Settings};
use crate::dev::{Cluster, ClusterOptions};
use crate::domain::{Scopes, TokenName};
use crate::service;
use crate::store::{self, Db};

/// The database `maia dev` creates in its cluster.
const DATABASE: &str = "maia";
/// The token `maia dev` makes at each start.
const DEV_TOKEN: &str = "dev";

pub fn run(settings: Settings, data_dir: &Path, fresh: bool) -> ExitCode {
    let options = ClusterOptions {
        data_dir: data_dir.to_path_buf(),
        fresh,
        fsync: true,
        bindir: None,
    };
    eprintln!("maia dev: starting PostgreSQL in {}", data_dir.display());
    let mut cluster = match Cluster::start(&options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("maia dev: cannot start PostgreSQL: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = actix_web::rt::System::new().block_on(serve(&cluster, settings));
    eprintln!("maia dev: stopping PostgreSQL");
    if let Err(e) = cluster.stop() {
        eprintln!("maia dev: stopping PostgreSQL: {e}");
        return ExitCode::FAILURE;
    }
    code
}

/// The settings pointed at `database_url` in the cluster, migrating on start, on loopback
/// unless a listen address was chosen.
fn for_cluster(mut settings: Settings, database_url: Secret) -> Settings {
    settings.database.url = database_url;
    settings.database.password = None;
    settings.database.ca_file = None;
    settings.database.migrate_on_start = true;
    if settings.http.listen == Settings::default().http.listen {
        settings.http.listen = "127.0.0.1:8080".into();
    }
    settings
}

async fn serve(cluster: &Cluster, settings: Settings) -> ExitCode {
    let database_url = match cluster.ensure_app_database(DATABASE).await {
        Ok(url) => url,
        Err(e) => {
            eprintln!("maia dev: cannot set up the database: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let settings = for_cluster(settings, database_url);
    announce(cluster, &settings);
    if settings.auth.required {
        match dev_token(&settings).await {
            Ok(token) => eprintln!(
                "maia dev: token for this dev stack (all scopes; a new one at each start):\n{token}"
            ),
            Err(e) => {
                eprintln!("maia dev: cannot create a token: {e:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    match super::serve::serve(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maia dev: cannot start: {e:#}");
            super::exit::failure(&e)
        }
    }
}

/// Where PostgreSQL is, how it is reached and where its passwords are (never the
/// passwords themselves), and where maia serves.
fn announce(cluster: &Cluster, settings: &Settings) {
    eprintln!(
        "maia dev: PostgreSQL listens on 127.0.0.1:{} with password authentication only \
         (data in {})",
        cluster.port(),
        cluster.data_dir().display()
    );
    eprintln!(
        "maia dev: passwords: the superuser `{}`'s in {}; maia connects as `{}` (no superuser), \
         its password in {}",
        Cluster::SUPERUSER,
        cluster.superuser_password_file().display(),
        Cluster::APP_ROLE,
        cluster.app_password_file().display()
    );
    eprintln!("maia dev: serving on http://{}", settings.http.listen);
}

/// A fresh token named `dev` with every scope; the previous run's is revoked.
async fn dev_token(settings: &Settings) -> anyhow::Result<String> {
    store::migrate(&settings.database).await?;
    let db = Db::new(&settings.database)?;
    let name = TokenName::parse(DEV_TOKEN)?;
    // None to revoke on a fresh cluster.
    let _ = service::revoke_token(&db, &name).await;
    let token = service::create_token(&db, &name, Scopes::all(), None).await?;
    Ok(token.expose().to_string())
}
