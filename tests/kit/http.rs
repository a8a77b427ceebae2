//! HTTP from a test: a client, JSON answers, waiting for a server, free ports.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// How often `wait_for_200` asks.
const POLL: Duration = Duration::from_millis(20);

/// An HTTP client that never waits long (a test must end) and never uses a proxy.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// Status and JSON body (`Null` when empty); panics on a body that is not JSON.
pub async fn decode(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, value)
}

/// `GET url` as `token`: status and JSON body.
pub async fn get_as(url: &str, token: &str) -> (u16, Value) {
    let response = http_client()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    decode(response).await
}

/// `GET url` with no credential: status and JSON body, as [`decode`] reads them.
pub async fn get(url: &str) -> (u16, Value) {
    let response = http_client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    decode(response).await
}

/// `POST {base}/api/consciousness/query` with `{"query": query}`: status and JSON body.
pub async fn post_query(base: &str, token: &str, query: &str) -> (u16, Value) {
    let response = http_client()
        .post(format!("{base}{}", super::settings::QUERY_PATH))
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("a query to {base}: {e}"));
    decode(response).await
}

/// `error.code` of an error body, with the whole body in the panic if it has none.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// A loopback port free now, for a server a test starts. It is chosen below the kernel's
/// ephemeral range: `bind(0)` picks from that range, and so does every outgoing connection
/// (to PostgreSQL, to a fake Ollama) for its local port, so a port found there could be
/// taken by one of those before the server binds it ("Address already in use", seen in CI).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `count` distinct loopback ports free now (each held until all are chosen), below the
/// ephemeral range, from a point that differs between calls and test processes.
pub fn free_ports(count: usize) -> Vec<u16> {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let (first, end) = (1024u32, ephemeral_start().max(2048));
    let span = end - first;
    let seed = std::process::id()
        .wrapping_mul(7919)
        .wrapping_add(CALLS.fetch_add(97, Ordering::Relaxed))
        .wrapping_add(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        );
    let mut held = Vec::new();
    for k in 0..span {
        let Ok(port) = u16::try_from(first + (seed.wrapping_add(k)) % span) else {
            continue;
        };
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
            if held.len() == count {
                break;
            }
        }
    }
    assert_eq!(held.len(), count, "free loopback ports below {end}");
    held.iter()
        .map(|l| l.local_addr().expect("its address").port())
        .collect()
}

/// Where the kernel's ephemeral ports start (`net.ipv4.ip_local_port_range`).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// Whether `url` answers 200 within `limit`.
pub async fn wait_for_200(url: &str, limit: Duration) -> bool {
    time_to_200(url, limit, POLL).await.is_some()
}

/// Asks `url` every `every` until it answers 200: how long that took, or `None` if it did
/// not within `limit`.
pub async fn time_to_200(url: &str, limit: Duration, every: Duration) -> Option<Duration> {
    // A client of its own: no connection kept from an earlier server on the same port.
    let client = http_client();
    let started = Instant::now();
    while started.elapsed() < limit {
        let answer = client.get(url).timeout(Duration::from_secs(1)).send().await;
        if answer.is_ok_and(|r| r.status().as_u16() == 200) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(every).await;
    }
    None
}

/// Asks `holds` every poll interval until it is true: whether it was within `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, mut holds: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if holds().await {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}
