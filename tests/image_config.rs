//! oci/image-config.json is the one source of the container image's config: nix/image.nix
//! reads it as it is, and oci/smoke builds the same image from it without Nix. These tests
//! hold it to what the crate and the binary say, so the two cannot drift apart.

#[path = "kit/mod.rs"]
mod kit;

use std::path::Path;
use std::process::Command;

use kit::process::{maia_bin, text};
use serde_json::Value;

fn image_config() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("oci/image-config.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read oci/image-config.json"))
        .expect("oci/image-config.json is JSON")
}

fn cargo_package() -> toml::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let manifest: toml::Value = std::fs::read_to_string(path).unwrap().parse().unwrap();
    manifest["package"].clone()
}

fn env_pairs(config: &Value) -> Vec<(String, String)> {
    config["Env"]
        .as_array()
        .expect("Env is a list")
        .iter()
        .map(|e| {
            let (k, v) = e.as_str().unwrap().split_once('=').expect("NAME=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn the_labels_say_what_cargo_toml_says() {
    let config = image_config();
    let package = cargo_package();
    let labels = &config["Labels"];
    for (label, key) in [
        ("version", "version"),
        ("description", "description"),
        ("licenses", "license"),
        ("source", "repository"),
    ] {
        assert_eq!(
            labels[format!("org.opencontainers.image.{label}")].as_str(),
            package[key].as_str(),
            "label {label} must equal Cargo.toml's package.{key}"
        );
    }
    assert_eq!(labels["org.opencontainers.image.title"], "maia");
}

#[test]
fn the_entrypoint_and_the_health_check_run_the_same_binary_as_a_user() {
    let config = image_config();
    assert_eq!(config["Entrypoint"], serde_json::json!(["/bin/maia"]));
    assert_eq!(config["Cmd"], serde_json::json!(["serve"]));
    let check = &config["Healthcheck"];
    assert_eq!(
        check["Test"],
        serde_json::json!(["CMD", "/bin/maia", "healthcheck"])
    );
    // Docker's durations are nanoseconds; `maia healthcheck` gives up after 3 s, so the
    // engine's timeout must leave it room to say why.
    let seconds = |key: &str| check[key].as_u64().unwrap() / 1_000_000_000;
    assert!(seconds("Timeout") > 3, "{check}");
    assert!(seconds("Interval") >= seconds("Timeout"), "{check}");
    let user = config["User"].as_str().unwrap();
    let (uid, gid) = user.split_once(':').expect("uid:gid");
    assert!(uid.parse::<u32>().unwrap() > 0 && gid.parse::<u32>().unwrap() > 0);
}

#[test]
fn the_environment_is_a_valid_configuration_listening_on_the_exposed_port() {
    let config = image_config();
    let env = env_pairs(&config);
    // Only the image's environment, as the container has it.
    let out = Command::new(maia_bin())
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["check", "--offline"])
        .output()
        .unwrap();
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("unknown environment variable"), "{text}");

    let listen = &env
        .iter()
        .find(|(k, _)| k == "MAIA_HTTP__LISTEN")
        .unwrap()
        .1;
    let port = listen.rsplit(':').next().unwrap();
    let exposed: Vec<&String> = config["ExposedPorts"].as_object().unwrap().keys().collect();
    assert_eq!(exposed, [&format!("{port}/tcp")]);
}
