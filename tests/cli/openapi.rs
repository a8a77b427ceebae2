//! The OpenAPI document held to outside tools, against `maia serve` on a fresh database
//! with the fake Ollama: `openapi-spec-validator` on the document as served, and
//! `schemathesis` sending generated requests with a token, which must get no 5xx and no
//! answer the document does not describe.
//!
//! The tools live in Python venvs named by `MAIA_TEST_OPENAPI_VALIDATOR_VENV` and
//! `MAIA_TEST_SCHEMATHESIS_VENV` (`.ci/run` makes them). Without them the tests say so and
//! skip, unless `MAIA_TEST_REQUIRE_OPENAPI_TOOLS` is set (CI sets it): then they fail.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::kit::process::serving;
use crate::kit::tokens::{issue_token, ALL_SCOPES};
use crate::kit::{http_client, Scratch};

/// Test cases schemathesis generates per operation and phase: enough to reach every
/// status a route documents, few enough for a couple of minutes on two cores.
const MAX_EXAMPLES: &str = "25";
/// What every answer must pass: no 5xx; a status, content type, headers and body the
/// document gives that operation; a 405 with `Allow` for a method it does not list; a
/// trace gone once deleted. Left out: the checks that want a schema-valid request
/// accepted or a schema-invalid one refused, which the schema cannot promise (it cannot
/// know which personas exist; maia reads `mode` in any case), and the ones that want only
/// 401/403 without a token, where maia's 429 for an address that keeps failing is meant.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
     response_headers_conformance,response_schema_conformance,unsupported_method,\
     allow_header_conformance,use_after_free,ensure_resource_availability";
/// Its whole run, at most.
const SCHEMATHESIS_LIMIT: Duration = Duration::from_secs(600);

/// The program `name` in the venv `variable` names; `None` (the test skips) when it is
/// unset and the tools are not required.
fn tool(variable: &str, name: &str) -> Option<PathBuf> {
    let required = std::env::var_os("MAIA_TEST_REQUIRE_OPENAPI_TOOLS").is_some();
    let Some(venv) = std::env::var_os(variable) else {
        assert!(
            !required,
            "MAIA_TEST_REQUIRE_OPENAPI_TOOLS is set but {variable} is not"
        );
        eprintln!(
            "SKIPPED: set {variable} to a venv with {name} installed (.ci/run makes one); \
             set MAIA_TEST_REQUIRE_OPENAPI_TOOLS=1 to make this a failure"
        );
        return None;
    };
    let program = PathBuf::from(venv).join("bin").join(name);
    assert!(program.is_file(), "{variable}: no {}", program.display());
    Some(program)
}

/// Runs `program` with `args` in `dir`, up to `limit`; killed when it takes longer.
async fn run(program: &PathBuf, args: &[&str], dir: &Scratch, limit: Duration) -> Output {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(dir.dir())
        // Its cache (hypothesis' examples database) stays in the scratch directory.
        .env("HOME", dir.dir())
        // schemathesis' hooks (tests/support/schemathesis_hooks.py): no URL longer than
        // the HTTP parser takes.
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support"),
        )
        .kill_on_drop(true);
    tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("{} ran longer than {limit:?}", program.display()))
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_served_document_is_valid_openapi() {
    let Some(validator) = tool("MAIA_TEST_OPENAPI_VALIDATOR_VENV", "openapi-spec-validator") else {
        return;
    };
    let (mut server, base, _, _ollama) = serving(&[]).await;
    let document = http_client()
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let scratch = Scratch::new("openapi");
    std::fs::write(scratch.path("openapi.json"), &document).unwrap();

    let checked = run(
        &validator,
        &["openapi.json"],
        &scratch,
        Duration::from_secs(60),
    )
    .await;

    assert!(checked.status.success(), "{}", text(&checked));
    server.assert_stops_cleanly(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let Some(schemathesis) = tool("MAIA_TEST_SCHEMATHESIS_VENV", "schemathesis") else {
        return;
    };
    // Its requests are many and quick: no rate limit to turn them into 429s.
    let (mut server, base, db_url, _ollama) =
        serving(&[("MAIA_AUTH__REQUESTS_PER_MINUTE", "0")]).await;
    let token = issue_token(&db_url, "schemathesis", ALL_SCOPES).await;
    let scratch = Scratch::new("schemathesis");
    let document = format!("{base}/api/openapi.json");
    let authorization = format!("Authorization: {}", token.header());

    let tested = run(
        &schemathesis,
        &[
            "run",
            &document,
            "--header",
            &authorization,
            "--checks",
            CHECKS,
            "--max-examples",
            MAX_EXAMPLES,
            // One: hypothesis parses its own source in each worker thread, and Python 3.11's
            // parser is not safe to use from two at once ("AST constructor recursion depth
            // mismatch").
            "--workers",
            "1",
            "--request-timeout",
            "10",
        ],
        &scratch,
        SCHEMATHESIS_LIMIT,
    )
    .await;

    assert!(
        tested.status.success(),
        "{}\nmaia's log:\n{}",
        text(&tested),
        server.log()
    );
    server.assert_stops_cleanly(Duration::from_secs(10)).await;
}
