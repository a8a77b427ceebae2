//! Configuration as users meet it: through `maia config` and the process environment.

use crate::kit::process::text;
use crate::kit::{maia, Scratch, TEST_CA_PEM};

fn effective(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut c = maia();
    c.args(args).arg("config");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn value(toml_text: &str, section: &str, key: &str) -> toml::Value {
    let doc: toml::Table = toml_text.parse().expect("maia config prints TOML");
    doc[section][key].clone()
}

#[test]
fn defaults_then_file_then_environment() {
    let dir = Scratch::new("config");
    let file = dir.write(
        "maia.toml",
        "[http]\nlisten = \"127.0.0.1:9000\"\n[ollama]\nmodel = \"from-file:1b\"\ntimeout = 60\n",
    );
    let path = file.to_str().unwrap();

    let (ok, out, _) = effective(&[], &[]);
    assert!(ok);
    assert_eq!(value(&out, "http", "listen").as_str(), Some("0.0.0.0:8080"));
    assert_eq!(
        value(&out, "ollama", "url").as_str(),
        Some("http://127.0.0.1:11434")
    );
    assert_eq!(
        value(&out, "database", "migrate_on_start").as_bool(),
        Some(true)
    );
    assert_eq!(value(&out, "sovereignty", "strict").as_bool(), Some(true));

    let (ok, out, _) = effective(&["--config", path], &[]);
    assert!(ok);
    assert_eq!(
        value(&out, "http", "listen").as_str(),
        Some("127.0.0.1:9000")
    );
    assert_eq!(
        value(&out, "ollama", "model").as_str(),
        Some("from-file:1b")
    );
    // deep_model defaults to model.
    assert_eq!(
        value(&out, "ollama", "deep_model").as_str(),
        Some("from-file:1b")
    );

    let (ok, out, _) = effective(
        &[],
        &[
            ("MAIA_CONFIG", path),
            ("MAIA_OLLAMA__MODEL", "from-env:3b"),
            ("MAIA_OLLAMA__DEEP_MODEL", "deep:7b"),
        ],
    );
    assert!(ok);
    assert_eq!(value(&out, "ollama", "model").as_str(), Some("from-env:3b"));
    assert_eq!(
        value(&out, "ollama", "deep_model").as_str(),
        Some("deep:7b")
    );
    assert_eq!(value(&out, "ollama", "timeout").as_integer(), Some(60));
}

#[test]
fn conventional_names_are_honoured_and_maia_names_win() {
    let (_, out, _) = effective(&[], &[("OLLAMA_BASE_URL", "http://10.1.2.3:11434")]);
    assert_eq!(
        value(&out, "ollama", "url").as_str(),
        Some("http://10.1.2.3:11434")
    );
    let (_, out, _) = effective(
        &[],
        &[
            ("OLLAMA_BASE_URL", "http://10.1.2.3:11434"),
            ("MAIA_OLLAMA__URL", "http://10.9.9.9:11434"),
        ],
    );
    assert_eq!(
        value(&out, "ollama", "url").as_str(),
        Some("http://10.9.9.9:11434")
    );
    let (_, out, _) = effective(&[], &[("DATABASE_URL", "postgresql://app@db.internal/app")]);
    assert!(out.contains("db.internal"), "{out}");
}

#[test]
fn secrets_come_from_files_and_credentials_and_are_never_printed() {
    let dir = Scratch::new("config");
    let pw_file = dir.write("pw", "s3cr3t-from-file\n");
    let creds = dir.path("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("database_password"), "s3cr3t-credential").unwrap();

    let (ok, out, err) = effective(
        &[],
        &[("MAIA_DATABASE__PASSWORD_FILE", pw_file.to_str().unwrap())],
    );
    assert!(ok, "{err}");
    assert!(
        !out.contains("s3cr3t") && !err.contains("s3cr3t"),
        "{out}{err}"
    );
    assert!(value(&out, "database", "password")
        .as_str()
        .unwrap()
        .contains("redacted"));

    let (ok, out, err) = effective(&[], &[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())]);
    assert!(ok, "{err}");
    assert!(!out.contains("s3cr3t"), "{out}");
    assert!(value(&out, "database", "password")
        .as_str()
        .unwrap()
        .contains("redacted"));

    let (ok, out, _) = effective(
        &[],
        &[(
            "MAIA_DATABASE__URL",
            "postgresql://maia:hunter2@127.0.0.1/maia",
        )],
    );
    assert!(ok);
    assert!(!out.contains("hunter2"), "{out}");

    let missing = dir.path("nope");
    let (ok, _, err) = effective(
        &[],
        &[("MAIA_DATABASE__PASSWORD_FILE", missing.to_str().unwrap())],
    );
    assert!(!ok);
    assert!(err.contains("MAIA_DATABASE__PASSWORD_FILE"), "{err}");
}

#[test]
fn unknown_keys_in_a_file_are_errors_naming_key_and_file() {
    let dir = Scratch::new("config");
    let file = dir.write("typo.toml", "[database]\npool_sise = 3\n");
    let (ok, _, err) = effective(&["--config", file.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(
        err.contains("pool_sise") && err.contains("typo.toml"),
        "{err}"
    );

    let (ok, _, err) = effective(&["--config", "/nonexistent/maia.toml"], &[]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/maia.toml"), "{err}");
}

#[test]
fn unknown_maia_variables_are_warnings_naming_them() {
    let (ok, _, err) = effective(&[], &[("MAIA_OLAMA__URL", "http://127.0.0.1:1")]);
    assert!(ok, "a warning, not an error");
    assert!(err.contains("MAIA_OLAMA__URL"), "{err}");
}

#[test]
fn invalid_values_are_clear_errors_naming_the_variable_and_the_key() {
    let (number_ok, _, number) = effective(&[], &[("MAIA_DATABASE__POOL_SIZE", "many")]);
    let (variant_ok, _, variant) = effective(&[], &[("MAIA_LOG__FORMAT", "xml")]);

    assert!(!number_ok);
    assert!(
        number.contains("MAIA_DATABASE__POOL_SIZE") && number.contains("database.pool_size"),
        "{number}"
    );
    assert!(!variant_ok);
    assert!(
        variant.contains(r#"MAIA_LOG__FORMAT: log.format must be "pretty" or "json", not "xml""#),
        "{variant}"
    );
}

#[test]
fn a_wrong_value_in_the_file_is_shown_at_its_line_under_a_caret_naming_the_key() {
    let dir = Scratch::new("config-caret");
    let file = dir.write(
        "maia.toml",
        "[http]\nworkers = 2\n\n[log]\nformat = \"xml\"\n",
    );

    let (ok, _, err) = effective(&["--config", file.to_str().unwrap()], &[]);

    assert!(!ok);
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("5 | format = \"xml\""))
        .unwrap_or_else(|| panic!("the line at fault is quoted:\n{err}"));
    assert!(err.contains("maia.toml") && err.contains("line 5"), "{err}");
    assert!(lines[at + 1].ends_with("|          ^^^^^"), "{err}");
    assert_eq!(
        lines.get(at + 2).copied(),
        Some(r#"log.format must be "pretty" or "json", not "xml""#),
        "{err}"
    );
}

/// The database URL and Ollama URL forms a password can hide in, as `maia config` and
/// `maia check --offline` print them: never the password.
#[test]
fn no_spelling_of_a_password_is_printed_by_config_or_check() {
    let forms = [
        (
            "MAIA_DATABASE__URL",
            "postgresql://maia:hunter2@10.0.0.5/maia",
        ),
        (
            "MAIA_DATABASE__URL",
            "host=10.0.0.5 user=maia password = hunter2 dbname=maia",
        ),
        (
            "MAIA_DATABASE__URL",
            "host=10.0.0.5\tuser=maia\npassword=hunter2",
        ),
        (
            "MAIA_DATABASE__URL",
            "postgres://10.0.0.5/maia?user=maia&pass%77ord=hunter2",
        ),
        (
            "MAIA_DATABASE__URL",
            "host=10.0.0.5 password='hunter2 and more' user=maia",
        ),
        ("MAIA_OLLAMA__URL", "http://proxy:hunter2@10.0.0.6:11434"),
    ];
    for (var, value) in forms {
        let (ok, out, err) = effective(&[], &[(var, value)]);
        let mut check = maia();
        check.args(["check", "--offline"]).env(var, value);
        let checked = check.output().unwrap();
        let all = format!(
            "{out}{err}{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        assert!(ok, "{value}: {err}");
        assert!(!all.contains("hunter2"), "{value}:\n{all}");
        assert!(
            all.contains("[redacted]"),
            "{value}: the password's presence is shown:\n{all}"
        );
    }
}

#[test]
fn a_broken_file_does_not_quote_the_secret_in_it() {
    let dir = Scratch::new("config-broken");
    let file = dir.write("maia.toml", "[database]\npasword = \"hunter2\n");
    let (ok, _, err) = effective(&["--config", file.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(err.contains("line 2") && !err.contains("hunter2"), "{err}");
}

#[test]
fn log_level_warning_means_warn_and_a_level_that_is_none_is_refused() {
    // A warning maia logs while loading: an unknown variable.
    let warned = |level: &str| {
        let mut check = maia();
        check
            .args(["check", "--offline"])
            .env("MAIA_LOG__LEVEL", level)
            .env("MAIA_OLAMA__URL", "http://127.0.0.1:1");
        check.output().unwrap()
    };

    let warning = warned("warning");
    let verbose = warned("verbose");
    let (_, shown, _) = effective(&[], &[("MAIA_LOG__LEVEL", "info,maia=warning")]);

    assert!(warning.status.success(), "{}", text(&warning));
    assert!(
        String::from_utf8_lossy(&warning.stderr).contains("MAIA_OLAMA__URL"),
        "log.level = warning logs warnings: {}",
        text(&warning)
    );
    assert_eq!(verbose.status.code(), Some(2), "{}", text(&verbose));
    let refused = String::from_utf8_lossy(&verbose.stderr);
    assert!(
        refused.contains("log.level")
            && refused.contains("\"verbose\"")
            && refused.contains("trace, debug, info, warn (or warning), error or off"),
        "{refused}"
    );
    assert_eq!(
        value(&shown, "log", "level").as_str(),
        Some("info,maia=warn")
    );
}

#[test]
fn a_ca_file_without_a_usable_certificate_is_refused_naming_the_file_and_the_fault() {
    let dir = Scratch::new("ca-file");
    let not_der =
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    let cases = [
        ("empty.pem", "", "no PEM certificate"),
        ("der.crt", "0\u{82}\u{1}\u{95}0\u{82}", "no PEM certificate"),
        (
            "truncated.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB",
            "not a valid PEM file",
        ),
        ("not-der.pem", not_der, "not a usable CA"),
    ];
    let offline = |ca: &std::path::Path| {
        let mut check = maia();
        check
            .args(["check", "--offline"])
            .env("MAIA_DATABASE__CA_FILE", ca);
        check.output().unwrap()
    };

    let good = offline(&dir.write("ca.pem", TEST_CA_PEM));

    assert!(good.status.success(), "{}", text(&good));
    for (name, contents, fault) in cases {
        let out = offline(&dir.write(name, contents));
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {shown}");
        assert!(
            shown.contains("database.ca_file") && shown.contains(name) && shown.contains(fault),
            "{name}: {shown}"
        );
    }
}

#[test]
fn a_configured_model_name_no_request_could_use_is_refused_naming_its_key() {
    let offline = |var: &str, value: &str| {
        let mut check = maia();
        check.args(["check", "--offline"]).env(var, value);
        check.output().unwrap()
    };

    for (var, value, key) in [
        ("MAIA_OLLAMA__MODEL", "../x y", "ollama.model"),
        ("MAIA_OLLAMA__DEEP_MODEL", "qwen 14b", "ollama.deep_model"),
        (
            "MAIA_OLLAMA__ALLOWED_MODELS",
            "qwen2.5:14b, /etc/passwd",
            "ollama.allowed_models[1]",
        ),
    ] {
        let out = offline(var, value);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "{value}: {shown}");
        assert!(
            shown.contains(&format!("{key}: model")) && shown.contains("is not a valid model name"),
            "{value}: {shown}"
        );
    }
    let fine = offline("MAIA_OLLAMA__ALLOWED_MODELS", "hf.co/user/model:q4");
    assert!(fine.status.success(), "{}", text(&fine));
}

#[test]
fn several_ollama_servers_come_from_a_comma_list_and_one_url_beside_them_is_refused() {
    let urls = "http://10.1.2.3:11434, http://10.1.2.4:11434";
    let (ok, out, err) = effective(&[], &[("MAIA_OLLAMA__URLS", urls)]);
    let (both_ok, _, both_err) = effective(
        &[],
        &[
            ("MAIA_OLLAMA__URLS", urls),
            ("OLLAMA_BASE_URL", "http://10.9.9.9:11434"),
        ],
    );
    let (bad_ok, _, bad_err) = effective(
        &[],
        &[("MAIA_OLLAMA__URLS", "http://10.1.2.3:11434,10.1.2.4:11434")],
    );

    assert!(ok, "{err}");
    let listed = value(&out, "ollama", "urls");
    assert_eq!(
        listed
            .as_array()
            .map(|a| a.iter().filter_map(|u| u.as_str()).collect::<Vec<_>>()),
        Some(vec!["http://10.1.2.3:11434", "http://10.1.2.4:11434"]),
        "{out}"
    );
    assert!(!both_ok);
    assert!(
        both_err.contains("ollama.url") && both_err.contains("both set"),
        "{both_err}"
    );
    assert!(!bad_ok);
    assert!(
        bad_err.contains("ollama.urls[1]") && bad_err.contains("not an http(s) URL"),
        "{bad_err}"
    );
}
