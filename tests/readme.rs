//! The README's Configuration table lists every key the binary has, with its environment
//! name. (The README is not part of the Nix package's source: nix/package.nix leaves this
//! test out, as it does flake_lock.rs.)

use std::path::Path;

#[path = "kit/mod.rs"]
mod kit;

use kit::process::{output, text};
use kit::{maia, Scratch};

/// Every key `maia config` shows, as `section.key`, with the optional ones set so that they
/// show too.
async fn every_key() -> Vec<String> {
    let scratch = Scratch::new("readme");
    let ca = scratch.write("ca.pem", kit::TEST_CA_PEM);
    let mut config = maia();
    config
        .arg("config")
        .env("MAIA_DATABASE__PASSWORD", "x")
        .env("MAIA_DATABASE__CA_FILE", &ca);
    let out = output(config).await;
    assert!(out.status.success(), "{}", text(&out));
    let table: toml::Table = String::from_utf8(out.stdout).unwrap().parse().unwrap();
    table
        .iter()
        .flat_map(|(section, keys)| {
            keys.as_table()
                .unwrap()
                .keys()
                .map(move |key| format!("{section}.{key}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_configuration_key_is_in_the_readme_with_its_environment_name() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let keys = every_key().await;
    assert!(keys.len() > 15, "{keys:?}");
    for key in keys {
        let env = format!("MAIA_{}", key.replace('.', "__").to_uppercase());
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("README's Configuration table has no row for {key}"));
        assert!(
            row.contains(&format!("`{env}`")),
            "{key}'s row does not name {env}: {row}"
        );
    }
}
