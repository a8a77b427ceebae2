//! `maia healthcheck`: the container HEALTHCHECK, so images need no curl.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use url::Url;

use crate::config::Settings;
use crate::llm::http1::{request_target, Endpoint, WireError};

const TIMEOUT: Duration = Duration::from_secs(3);
/// More than any health report: a peer that keeps sending is not maia.
const MAX_REPORT_BYTES: usize = 64 * 1024;

/// The health URL of a server listening as configured, reached over 127.0.0.1 when it
/// listens on every interface, `[::]` included: a socket on `[::]` takes IPv4 too (unless
/// `net.ipv6.bindv6only` is set), and 127.0.0.1 answers where IPv6 is disabled.
pub fn default_url(settings: &Settings) -> String {
    match settings.listen_addr() {
        Ok(addr) => {
            let host = match addr.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
                IpAddr::V4(v4) => v4.to_string(),
            };
            format!("http://{host}:{}/api/health", addr.port())
        }
        Err(_) => "http://127.0.0.1:8080/api/health".to_string(),
    }
}

pub fn run(settings: &Settings, url: Option<&str>) -> ExitCode {
    let url = match url.map(checked_url).transpose() {
        Ok(given) => given.unwrap_or_else(|| default_url(settings)),
        Err(why) => {
            eprintln!("maia healthcheck: {why}");
            // A usage error, as clap's own: not "the server is unhealthy".
            return ExitCode::from(2);
        }
    };
    let outcome = super::runtime::runtime().block_on(probe(&url));
    match outcome {
        Ok(status) if status == "healthy" || status == "degraded" => {
            println!("{status}");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            println!("{status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("maia healthcheck: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--url` as given, when it is an http(s) URL with a host.
fn checked_url(text: &str) -> Result<String, String> {
    let expected = "expected e.g. http://127.0.0.1:8080/api/health";
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(text.to_string())
        }
        Ok(url) => Err(format!(
            "--url {text}: not an http(s) URL with a host (scheme {}); {expected}",
            url.scheme()
        )),
        Err(e) => Err(format!("--url {text}: {e}; {expected}")),
    }
}

async fn probe(url: &str) -> Result<String, String> {
    let url = Url::parse(url).map_err(|e| e.to_string())?;
    let endpoint = Endpoint::new(&url, || crate::tls::client_config(Vec::new()))?;
    let target = request_target(&url);
    let work = async {
        let mut response = endpoint.send("GET", &target, None).await?;
        let body = response.body.read_to_end(MAX_REPORT_BYTES).await?;
        Ok::<_, WireError>((response.status, body))
    };
    let (code, body) = tokio::time::timeout(TIMEOUT, work)
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
        .map_err(|e| match e {
            WireError::Connect(_) => format!("{e}: is maia running?"),
            e => e.to_string(),
        })?;
    let body: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| format!("HTTP {code} without a health report"))?;
    body.get("status")
        .and_then(|s| s.as_str())
        .map(String::from)
        .ok_or_else(|| format!("HTTP {code} without a status field"))
}
