//! Sovereignty by the binary: `maia serve` refuses a public database and says why.

use crate::kit::maia;
use crate::kit::process::{output, text};

#[tokio::test(flavor = "multi_thread")]
async fn maia_serve_refuses_a_public_database_and_says_why() {
    let mut serve = maia();
    serve
        .arg("serve")
        .env("MAIA_HTTP__LISTEN", "127.0.0.1:0")
        .env("MAIA_DATABASE__URL", "postgresql://maia@8.8.8.8:5432/maia")
        .env("MAIA_OLLAMA__URL", "http://127.0.0.1:11434");

    let out = output(serve).await;

    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sovereignty") && err.contains("8.8.8.8"),
        "{}",
        text(&out)
    );
}
