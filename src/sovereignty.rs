//! Sovereignty: maia talks only to endpoints on this machine or its private network.
//!
//! With `sovereignty.strict`, every endpoint (PostgreSQL, Ollama) must be a unix socket,
//! a loopback, private (RFC 1918, carrier-grade NAT, ULA) or link-local address, or a name
//! that resolves only to such addresses, unless its host is listed in
//! `sovereignty.allow_hosts`. Literal
//! addresses are judged without any network traffic; names are resolved (a DNS look-up,
//! never a connection to the endpoint).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{AllowedHost, Settings};

/// Where an address lies, as far as sovereignty is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locality {
    Loopback,
    Private,
    LinkLocal,
    Public,
    /// `0.0.0.0` or `::`: a bind address meaning "every interface", never an endpoint.
    Unspecified,
}

pub fn classify(addr: IpAddr) -> Locality {
    match addr {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(a: Ipv4Addr) -> Locality {
    let [first, second, ..] = a.octets();
    if a.is_unspecified() {
        Locality::Unspecified
    } else if a.is_loopback() {
        Locality::Loopback
    } else if a.is_private() {
        Locality::Private
    } else if first == 100 && second & 0xc0 == 64 {
        // 100.64.0.0/10, carrier-grade NAT (RFC 6598): never routed on the internet, and
        // the addresses Tailscale and similar overlay networks give a self-hoster's machines.
        Locality::Private
    } else if a.is_link_local() {
        Locality::LinkLocal
    } else {
        Locality::Public
    }
}

fn classify_v6(a: Ipv6Addr) -> Locality {
    let first = a.segments()[0];
    if a.is_unspecified() {
        Locality::Unspecified
    } else if a.is_loopback() {
        Locality::Loopback
    } else if first & 0xfe00 == 0xfc00 {
        // fc00::/7, unique local addresses (RFC 4193).
        Locality::Private
    } else if first & 0xffc0 == 0xfe80 {
        // fe80::/10
        Locality::LinkLocal
    } else {
        Locality::Public
    }
}

/// One endpoint maia would connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    UnixSocket(String),
    Host { host: String, port: u16 },
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub service: &'static str,
    pub endpoint: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Local(String),
    Allowed,
    /// Not local; the reason says what it resolved to.
    Refused(String),
    /// Could not be judged (a name that does not resolve); a warning, not a refusal,
    /// for single-label names such as compose service names.
    Unverified(String),
}

#[derive(Debug, thiserror::Error)]
#[error(
    "sovereignty check failed: {0}. maia only talks to local or private-network endpoints; \
     list the host in sovereignty.allow_hosts (MAIA_SOVEREIGNTY__ALLOW_HOSTS) to allow it, \
     or set sovereignty.strict = false"
)]
pub struct SovereigntyError(pub String);

/// Judges an endpoint. `resolve` is only called for names; literal addresses never leave
/// this function.
pub async fn judge(
    service: &'static str,
    endpoint: &Endpoint,
    allow_hosts: &[AllowedHost],
    resolve: bool,
) -> Finding {
    let (shown, verdict) = match endpoint {
        Endpoint::UnixSocket(path) => {
            (format!("unix:{path}"), Verdict::Local("unix socket".into()))
        }
        Endpoint::Host { host, port } => {
            let shown = format!("{host}:{port}");
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let verdict = if allow_hosts.iter().any(|allowed| allowed.matches(host)) {
                Verdict::Allowed
            } else if let Ok(ip) = bare.parse::<IpAddr>() {
                judge_addresses(&[ip])
            } else if bare.eq_ignore_ascii_case("localhost") {
                Verdict::Local("localhost".into())
            } else if !resolve {
                Verdict::Unverified(format!("{bare} was not resolved (offline check)"))
            } else {
                match tokio::net::lookup_host((bare, *port)).await {
                    Ok(addrs) => {
                        let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                        if ips.is_empty() {
                            unresolved(bare)
                        } else {
                            judge_addresses(&ips)
                        }
                    }
                    Err(_) => unresolved(bare),
                }
            };
            (shown, verdict)
        }
    };
    Finding {
        service,
        endpoint: shown,
        verdict,
    }
}

fn unresolved(name: &str) -> Verdict {
    if name.contains('.') {
        Verdict::Refused(format!(
            "{name} does not resolve, so it cannot be shown to be local"
        ))
    } else {
        Verdict::Unverified(format!(
            "{name} does not resolve yet; single-label names are taken as local service names"
        ))
    }
}

fn judge_addresses(ips: &[IpAddr]) -> Verdict {
    let refused: Vec<String> = ips
        .iter()
        .filter_map(|ip| match classify(*ip) {
            Locality::Public => Some(format!("{ip} is a public address")),
            Locality::Unspecified => Some(format!(
                "{ip} is the unspecified address (\"every interface\" when binding), \
                 which can never be an endpoint"
            )),
            Locality::Loopback | Locality::Private | Locality::LinkLocal => None,
        })
        .collect();
    if refused.is_empty() {
        let kinds: Vec<String> = ips
            .iter()
            .map(|ip| format!("{ip} ({:?})", classify(*ip)).to_lowercase())
            .collect();
        Verdict::Local(kinds.join(", "))
    } else {
        Verdict::Refused(refused.join(", "))
    }
}

/// The endpoints the configuration points at.
pub fn endpoints(settings: &Settings) -> Vec<(&'static str, Endpoint)> {
    let mut out = Vec::new();
    if let Ok(cfg) = settings.database.connection_config() {
        let ports = cfg.get_ports();
        for (i, host) in cfg.get_hosts().iter().enumerate() {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            out.push((
                "database",
                match host {
                    tokio_postgres::config::Host::Tcp(h) => Endpoint::Host {
                        host: h.clone(),
                        port,
                    },
                    tokio_postgres::config::Host::Unix(p) => {
                        Endpoint::UnixSocket(p.display().to_string())
                    }
                },
            ));
        }
        for addr in cfg.get_hostaddrs() {
            out.push((
                "database",
                Endpoint::Host {
                    host: addr.to_string(),
                    port: ports.first().copied().unwrap_or(5432),
                },
            ));
        }
    }
    // Every Ollama server calls may go to, each judged as one alone would be.
    for url in settings.ollama.hosts() {
        let Ok(url) = url::Url::parse(url) else {
            continue;
        };
        if let Some(host) = url.host_str() {
            out.push((
                "ollama",
                Endpoint::Host {
                    host: host.to_string(),
                    port: url.port_or_known_default().unwrap_or(11434),
                },
            ));
        }
    }
    out
}

/// Judges every endpoint of the configuration.
pub async fn review(settings: &Settings, resolve: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (service, endpoint) in endpoints(settings) {
        findings.push(
            judge(
                service,
                &endpoint,
                &settings.sovereignty.allow_hosts,
                resolve,
            )
            .await,
        );
    }
    findings
}

/// Refuses a non-local endpoint when strict; warnings are logged either way.
pub async fn enforce(settings: &Settings) -> Result<(), SovereigntyError> {
    let findings = review(settings, true).await;
    let mut refused = Vec::new();
    for f in &findings {
        match &f.verdict {
            Verdict::Refused(why) => {
                refused.push(format!("{} endpoint {}: {why}", f.service, f.endpoint))
            }
            Verdict::Unverified(why) => {
                tracing::warn!(service = f.service, endpoint = %f.endpoint, "{why}")
            }
            Verdict::Local(_) | Verdict::Allowed => {}
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    if settings.sovereignty.strict {
        Err(SovereigntyError(refused.join("; ")))
    } else {
        for r in refused {
            tracing::warn!("sovereignty.strict is off: {r}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_addresses_are_local() {
        assert_eq!(classify(ip("127.0.0.1")), Locality::Loopback);
        assert_eq!(classify(ip("127.255.0.9")), Locality::Loopback);
        assert_eq!(classify(ip("::1")), Locality::Loopback);
        assert_eq!(classify(ip("::ffff:127.0.0.1")), Locality::Loopback);
    }

    #[test]
    fn rfc1918_and_unique_local_addresses_are_private() {
        for a in [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "fd12:3456::1",
            "fc00::1",
        ] {
            assert_eq!(classify(ip(a)), Locality::Private, "{a}");
        }
    }

    #[test]
    fn carrier_grade_nat_addresses_are_private_as_tailscale_uses_them() {
        for a in ["100.64.0.1", "100.100.100.100", "100.127.255.254"] {
            assert_eq!(classify(ip(a)), Locality::Private, "{a}");
        }
        // Just outside 100.64.0.0/10.
        for a in ["100.63.255.255", "100.128.0.0"] {
            assert_eq!(classify(ip(a)), Locality::Public, "{a}");
        }
    }

    #[tokio::test]
    async fn the_unspecified_address_is_refused_as_such_not_as_public() {
        for host in ["0.0.0.0", "::", "[::]", "::ffff:0.0.0.0"] {
            let f = judge(
                "ollama",
                &Endpoint::Host {
                    host: host.into(),
                    port: 11434,
                },
                &[],
                false,
            )
            .await;
            let Verdict::Refused(why) = &f.verdict else {
                panic!("{host}: {f:?}");
            };
            assert!(
                why.contains("the unspecified address") && !why.contains("public"),
                "{host}: {why}"
            );
        }
    }

    #[test]
    fn link_local_addresses_are_local() {
        assert_eq!(classify(ip("169.254.10.10")), Locality::LinkLocal);
        assert_eq!(classify(ip("fe80::1")), Locality::LinkLocal);
    }

    #[test]
    fn everything_else_is_public() {
        for a in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "192.169.0.1",
            "1.1.1.1",
            "2001:4860:4860::8888",
            "fec0::1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(classify(ip(a)), Locality::Public, "{a}");
        }
    }

    #[tokio::test]
    async fn a_public_literal_address_is_refused_without_any_lookup() {
        let f = judge(
            "ollama",
            &Endpoint::Host {
                host: "8.8.8.8".into(),
                port: 11434,
            },
            &[],
            false,
        )
        .await;
        assert!(matches!(f.verdict, Verdict::Refused(_)), "{f:?}");
    }

    #[tokio::test]
    async fn an_allowed_host_passes_even_when_public() {
        let f = judge(
            "ollama",
            &Endpoint::Host {
                host: "8.8.8.8".into(),
                port: 11434,
            },
            &[AllowedHost::try_from("8.8.8.8".to_string()).unwrap()],
            false,
        )
        .await;
        assert_eq!(f.verdict, Verdict::Allowed);
    }

    #[tokio::test]
    async fn unix_sockets_and_localhost_are_local() {
        let f = judge(
            "database",
            &Endpoint::UnixSocket("/run/postgresql".into()),
            &[],
            true,
        )
        .await;
        assert!(matches!(f.verdict, Verdict::Local(_)));
        let f = judge(
            "database",
            &Endpoint::Host {
                host: "localhost".into(),
                port: 5432,
            },
            &[],
            false,
        )
        .await;
        assert!(matches!(f.verdict, Verdict::Local(_)));
    }

    #[tokio::test]
    async fn a_bracketed_ipv6_host_is_classified() {
        let f = judge(
            "ollama",
            &Endpoint::Host {
                host: "[::1]".into(),
                port: 11434,
            },
            &[],
            false,
        )
        .await;
        assert!(matches!(f.verdict, Verdict::Local(_)), "{f:?}");
    }

    #[tokio::test]
    async fn every_ollama_server_is_judged_and_a_public_one_among_local_ones_refused() {
        let mut settings = Settings::default();
        settings.ollama.urls = vec![
            "http://127.0.0.1:11434".into(),
            "http://8.8.8.8:11434".into(),
        ];
        let findings = review(&settings, false).await;
        let ollama: Vec<_> = findings.iter().filter(|f| f.service == "ollama").collect();
        assert_eq!(ollama.len(), 2, "{findings:?}");
        assert!(
            matches!(ollama[0].verdict, Verdict::Local(_)),
            "{findings:?}"
        );
        assert!(
            matches!(ollama[1].verdict, Verdict::Refused(_)),
            "{findings:?}"
        );
        assert!(enforce(&settings).await.is_err());
    }
}
