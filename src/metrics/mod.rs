//! Prometheus metrics: one registry per application (tests run many in one process), read
//! by `GET /metrics` in the text exposition format. The `prometheus` crate keeps the
//! counters and histograms (atomics, fixed buckets: memory stays flat however long nobody
//! scrapes) and writes the format; nothing here writes it by hand.

mod family;
mod http;
mod llm;

use std::sync::Arc;

use prometheus::{Encoder as _, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use self::family::{counter_vec, gauge};

pub use self::http::{HttpMetrics, MeteredBody};
pub use self::llm::{LlmCall, LlmMetrics};

/// The content type of the text exposition format (0.0.4).
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Every metric maia exposes. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http: Arc<HttpMetrics>,
    pub llm: Arc<LlmMetrics>,
    traces: IntCounterVec,
    pool: PoolGauges,
    migrations_applied: IntGauge,
    migrations_pending: IntGauge,
}

/// The request pool, as read at each scrape.
#[derive(Clone)]
struct PoolGauges {
    max: IntGauge,
    open: IntGauge,
    in_use: IntGauge,
    waiting: IntGauge,
}

/// The pool's state at one moment: how many connections it may open, has open, has lent
/// out, and how many callers wait for one.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub max: usize,
    pub open: usize,
    pub in_use: usize,
    pub waiting: usize,
}

impl Metrics {
    /// The metrics of an application whose routes are `routes` (templates, as the route
    /// table writes them).
    pub fn new(routes: Vec<&'static str>) -> Self {
        let registry = Registry::new();
        let traces = counter_vec(
            &registry,
            "maia_traces_total",
            "Traces stored, by status (ok, failed, cancelled)",
            &["status"],
        );
        // Each status shown from the start, so that a rate over it is 0 rather than absent.
        for status in ["ok", "failed", "cancelled"] {
            traces.with_label_values(&[status]);
        }
        let build = IntGaugeVec::new(
            Opts::new(
                "maia_build_info",
                "Always 1; the labels say which maia this is",
            ),
            &["version"],
        )
        .expect("a valid metric");
        registry
            .register(Box::new(build.clone()))
            .expect("registered once");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let gauge = |name: &str, help: &str| gauge(&registry, name, help);
        Self {
            http: Arc::new(HttpMetrics::new(&registry, routes)),
            llm: Arc::new(LlmMetrics::new(&registry)),
            traces,
            pool: PoolGauges {
                max: gauge("maia_db_pool_max_connections", "database.pool_size"),
                open: gauge(
                    "maia_db_pool_connections",
                    "Connections the pool holds open",
                ),
                in_use: gauge(
                    "maia_db_pool_connections_in_use",
                    "Connections lent out to requests",
                ),
                waiting: gauge("maia_db_pool_waiting", "Callers waiting for a connection"),
            },
            migrations_applied: gauge(
                "maia_migrations_applied",
                "Migrations of this binary the database has applied",
            ),
            migrations_pending: gauge(
                "maia_migrations_pending",
                "Migrations of this binary the database has not applied yet",
            ),
            registry,
        }
    }

    /// A trace stored with `status`.
    pub fn count_trace(&self, status: &str) {
        self.traces.with_label_values(&[status]).inc();
    }

    pub fn set_pool(&self, state: PoolState) {
        self.pool.max.set(as_gauge(state.max));
        self.pool.open.set(as_gauge(state.open));
        self.pool.in_use.set(as_gauge(state.in_use));
        self.pool.waiting.set(as_gauge(state.waiting));
    }

    pub fn set_migrations(&self, applied: usize, pending: usize) {
        self.migrations_applied.set(as_gauge(applied));
        self.migrations_pending.set(as_gauge(pending));
    }

    /// Everything, in the text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            // Only a malformed metric fails, which the tests would have caught.
            tracing::error!(error = %e, "the metrics could not be written");
        }
        out
    }
}

fn as_gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
