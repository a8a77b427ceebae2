//! `maia check`: everything a deployment needs, checked in order, one line each.

use std::process::ExitCode;

use serde::Serialize;

use crate::config::{Settings, SettingsError};
use crate::llm::{model_present, Llm};
use crate::service::embedding_space;
use crate::sovereignty::{self, Verdict};
use crate::store::{self, KnowledgeState, SchemaMismatch};

#[derive(Debug, Serialize)]
struct Item {
    name: String,
    ok: bool,
    /// Passed, with something the operator should know (maia works, a part of it not).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    warning: bool,
    detail: String,
}

#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    checks: Vec<Item>,
}

impl Report {
    fn push(&mut self, name: impl Into<String>, result: Result<String, String>) {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        self.ok &= ok;
        self.checks.push(Item {
            name: name.into(),
            ok,
            warning: false,
            detail,
        });
    }

    /// A check that passes with a warning: `detail` says what does not work and why.
    fn warn(&mut self, name: impl Into<String>, detail: String) {
        self.checks.push(Item {
            name: name.into(),
            ok: true,
            warning: true,
            detail,
        });
    }

    fn print(&self, json: bool) -> ExitCode {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(self).expect("the report serialises")
            );
        } else {
            for item in &self.checks {
                let mark = match (item.ok, item.warning) {
                    (false, _) => "FAIL",
                    (true, true) => "warn",
                    (true, false) => "ok  ",
                };
                println!("{mark} {:<12} {}", item.name, item.detail);
            }
            println!(
                "{}",
                if self.ok {
                    "all checks passed"
                } else {
                    "some checks failed"
                }
            );
        }
        self.exit_code()
    }

    /// 0 when every check passed; 2 when the configuration failed (it does not load, or
    /// sovereignty refuses an endpoint it names), as for every command; 1 otherwise.
    fn exit_code(&self) -> ExitCode {
        let configuration = self
            .checks
            .iter()
            .any(|c| !c.ok && matches!(c.name.as_str(), "config" | "sovereignty"));
        if configuration {
            ExitCode::from(super::exit::CONFIGURATION_ERROR)
        } else if self.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// A configuration that does not load is a failed check too, in the requested format.
pub fn report_config_error(error: &SettingsError) -> ExitCode {
    let mut report = Report {
        ok: true,
        checks: Vec::new(),
    };
    report.push("config", Err(error.to_string()));
    report.print(true)
}

pub fn run(settings: &Settings, json: bool, offline: bool) -> ExitCode {
    let report = super::runtime::runtime().block_on(collect(settings, offline));
    report.print(json)
}

async fn collect(settings: &Settings, offline: bool) -> Report {
    let mut report = Report {
        ok: true,
        checks: Vec::new(),
    };
    report.push("config", Ok("valid".into()));
    let refused = check_sovereignty(&mut report, settings, offline).await;
    if offline {
        return report;
    }
    // An endpoint sovereignty refused is never contacted, not even to log in.
    let not_contacted = || Err("not contacted: sovereignty refused its endpoint".to_string());
    if refused.contains(&"database") {
        report.push("database", not_contacted());
    } else {
        check_database(&mut report, settings).await;
    }
    if refused.contains(&"ollama") {
        report.push("ollama", not_contacted());
    } else {
        check_ollama(&mut report, settings).await;
    }
    report
}

/// Offline, names are not resolved: only literal addresses can be judged. Returns the
/// services whose endpoints are refused.
async fn check_sovereignty(
    report: &mut Report,
    settings: &Settings,
    offline: bool,
) -> Vec<&'static str> {
    let mut refused = Vec::new();
    for f in sovereignty::review(settings, !offline).await {
        if matches!(f.verdict, Verdict::Refused(_)) && settings.sovereignty.strict {
            refused.push(f.service);
        }
        let result = match &f.verdict {
            Verdict::Local(kind) => Ok(format!("{} {}: local ({kind})", f.service, f.endpoint)),
            Verdict::Allowed => Ok(format!(
                "{} {}: allowed by sovereignty.allow_hosts",
                f.service, f.endpoint
            )),
            Verdict::Unverified(why) => Ok(format!("{} {}: {why}", f.service, f.endpoint)),
            Verdict::Refused(why) if settings.sovereignty.strict => {
                Err(format!("{} {}: {why}", f.service, f.endpoint))
            }
            Verdict::Refused(why) => Ok(format!(
                "{} {}: {why} (allowed: sovereignty.strict is off)",
                f.service, f.endpoint
            )),
        };
        report.push("sovereignty", result);
    }
    refused
}

async fn check_database(report: &mut Report, settings: &Settings) {
    let client = match store::connect(&settings.database).await {
        Ok(client) => client,
        Err(e) => return report.push("database", Err(e.to_string())),
    };
    report.push("database", Ok("connected".into()));
    let migrations = match store::migration_status(&client).await {
        Ok(s) => match s.mismatch() {
            None => Ok(format!("{} applied, none pending", s.applied.len())),
            Some(SchemaMismatch::Pending(pending)) => Err(format!(
                "{} applied, {} pending (run `maia migrate`)",
                s.applied.len(),
                pending.len()
            )),
            Some(newer) => Err(newer.to_string()),
        },
        Err(e) => Err(format!("cannot read the migration history: {e}")),
    };
    report.push("migrations", migrations);
    check_knowledge(report, settings, &client).await;
}

/// Knowledge is optional: where it cannot be used, a warning in the words its routes'
/// 503 uses.
async fn check_knowledge(
    report: &mut Report,
    settings: &Settings,
    client: &tokio_postgres::Client,
) {
    let space = embedding_space(&settings.knowledge);
    match store::knowledge_state(client, &space).await {
        Ok(KnowledgeState::Ready) => report.push(
            "knowledge",
            Ok(format!(
                "ready: {} ({} dimensions)",
                space.model, space.dimensions
            )),
        ),
        Ok(state) => report.warn("knowledge", state.to_string()),
        Err(e) => report.warn(
            "knowledge",
            format!("cannot tell whether knowledge can be used: {e}"),
        ),
    }
}

/// A line per Ollama server; with several, one that does not answer is a warning while
/// another does. Then each model the settings name, and where it is.
async fn check_ollama(report: &mut Report, settings: &Settings) {
    let llm = match Llm::new(&settings.ollama) {
        Ok(llm) => llm,
        Err(e) => return report.push("ollama", Err(e.to_string())),
    };
    let hosts = llm.hosts();
    let probes = hosts
        .iter()
        .map(|h| async { tokio::join!(h.version(), h.models()) });
    let probes = futures_util::future::join_all(probes).await;
    let answering = probes.iter().filter(|(v, _)| v.is_ok()).count();
    let mut listed = Vec::new();
    let mut unlisted = None;
    for (host, (version, models)) in hosts.iter().zip(probes) {
        let shown = host.shown();
        match version {
            Ok(v) => report.push("ollama", Ok(format!("{shown} answers (version {v})"))),
            Err(e) if answering > 0 => report.warn(
                "ollama",
                format!("{shown}: {e} (calls go to the other servers)"),
            ),
            Err(e) if hosts.len() > 1 => report.push("ollama", Err(format!("{shown}: {e}"))),
            Err(e) => report.push("ollama", Err(e.to_string())),
        }
        match models {
            Ok(models) => listed.push((shown, models)),
            Err(e) => unlisted = Some(e),
        }
    }
    if answering == 0 {
        return;
    }
    if listed.is_empty() {
        let why = unlisted.map(|e| e.to_string()).unwrap_or_default();
        return report.push("model", Err(format!("cannot list models: {why}")));
    }
    check_models(report, settings, &listed, hosts.len() > 1);
}

/// Each model the settings name: on which servers (with several) it is.
fn check_models(
    report: &mut Report,
    settings: &Settings,
    listed: &[(&str, Vec<String>)],
    several: bool,
) {
    let where_present = |model: &str| -> Option<String> {
        let on: Vec<&str> = listed
            .iter()
            .filter(|(_, present)| model_present(present, model))
            .map(|(shown, _)| *shown)
            .collect();
        match (on.is_empty(), several) {
            (true, _) => None,
            (false, false) => Some(String::new()),
            (false, true) => Some(format!(" on {}", on.join(", "))),
        }
    };
    let mut wanted = vec![settings.ollama.model.as_str()];
    if settings.deep_model() != settings.ollama.model {
        wanted.push(settings.deep_model());
    }
    for model in wanted {
        let result = match where_present(model) {
            Some(on) => Ok(format!("{model} is present{on}")),
            None => Err(format!("{model} is missing (run `ollama pull {model}`)")),
        };
        report.push("model", result);
    }
    let embed = settings.knowledge.embed_model.as_str();
    match where_present(embed) {
        Some(on) => report.push("model", Ok(format!("{embed} is present{on} (knowledge)"))),
        None => report.warn("model", format!("{embed} is missing (run `ollama pull {embed}`): knowledge cannot add documents or answer with them")),
    }
}
