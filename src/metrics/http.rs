//! HTTP requests: counted by method, route and status, timed by method and route, and
//! those in flight. The route is the route table's template (`/api/traces/{id}`), never
//! the path asked for, so that the number of series stays bounded; a path no template
//! matches counts as [`UNMATCHED`].
//!
//! Every request passes here, so the hot path takes no lock and allocates nothing: each
//! (route, method) has a cell whose histogram and first few statuses are looked up in the
//! registry once, then kept (`OnceLock`: an atomic load afterwards).

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use super::family;
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, Registry};

/// The route of a path no template matches.
pub const UNMATCHED: &str = "unmatched";

/// The methods counted by name; any other is `other`.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];

/// Statuses a cell keeps at hand; a route answering more than these looks the others up.
const STATUS_SLOTS: usize = 8;

/// Seconds: from a millisecond (a probe) to two minutes (a long answer streamed).
const BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

pub struct HttpMetrics {
    in_flight: IntGauge,
    requests: IntCounterVec,
    duration: HistogramVec,
    /// The templates, [`UNMATCHED`] last.
    routes: Vec<Template>,
    /// One per route and method: `routes.len() * METHODS.len()`.
    cells: Box<[Cell]>,
}

/// A route template, cut into its segments.
struct Template {
    label: &'static str,
    /// `None` for a `{parameter}`, which matches any one segment that is not empty.
    segments: Vec<Option<&'static str>>,
}

#[derive(Default)]
struct Cell {
    duration: OnceLock<Histogram>,
    statuses: [OnceLock<(u16, IntCounter)>; STATUS_SLOTS],
}

impl HttpMetrics {
    pub(super) fn new(registry: &Registry, templates: Vec<&'static str>) -> Self {
        let labels = ["method", "route", "status"];
        let requests = family::counter_vec(
            registry,
            "maia_http_requests_total",
            "HTTP requests answered, by method, route template and status",
            &labels,
        );
        let duration = family::histogram_vec(
            registry,
            "maia_http_request_duration_seconds",
            "From a request's arrival to its response's last byte, by method and route template",
            &labels[..2],
            &BUCKETS,
        );
        let in_flight = family::gauge(
            registry,
            "maia_http_requests_in_flight",
            "Requests arrived whose response is not yet fully sent (streams included)",
        );
        let routes: Vec<Template> = templates
            .into_iter()
            .chain([UNMATCHED])
            .map(Template::new)
            .collect();
        let cells = (0..routes.len() * METHODS.len())
            .map(|_| Cell::default())
            .collect();
        Self {
            in_flight,
            requests,
            duration,
            routes,
            cells,
        }
    }

    /// A request to `method` on `path` has arrived: it is in flight until the result, or
    /// the response that carries it, is dropped.
    pub fn arrived(self: Arc<Self>, method: &Method, path: &str) -> Pending {
        self.in_flight.inc();
        let route = self.route_of(path);
        Pending {
            cell: route * METHODS.len() + method_index(method),
            metrics: self,
            started: Instant::now(),
            status: None,
        }
    }

    /// The label of the template `path` matches.
    #[cfg(test)]
    fn route_label(&self, path: &str) -> &'static str {
        self.routes[self.route_of(path)].label
    }

    fn route_of(&self, path: &str) -> usize {
        let last = self.routes.len() - 1;
        self.routes[..last]
            .iter()
            .position(|t| t.matches(path))
            .unwrap_or(last)
    }

    fn record(&self, cell: usize, status: StatusCode, started: Instant) {
        self.in_flight.dec();
        let method = METHODS[cell % METHODS.len()];
        let route = self.routes[cell / METHODS.len()].label;
        let cell = &self.cells[cell];
        cell.duration
            .get_or_init(|| self.duration.with_label_values(&[method, route]))
            .observe(started.elapsed().as_secs_f64());
        let code = status.as_u16();
        for slot in &cell.statuses {
            let (kept, counter) = slot.get_or_init(|| {
                let labels = [method, route, status.as_str()];
                (code, self.requests.with_label_values(&labels))
            });
            if *kept == code {
                counter.inc();
                return;
            }
        }
        // More statuses on one route than slots: rare, so the registry's lookup will do.
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
    }
}

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

impl Template {
    fn new(label: &'static str) -> Self {
        let segments = label
            .split('/')
            .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then_some(s))
            .collect();
        Self { label, segments }
    }

    /// As actix matches: literal segments equal, a parameter any non-empty segment.
    fn matches(&self, path: &str) -> bool {
        let mut parts = path.split('/');
        self.segments
            .iter()
            .all(|segment| match (segment, parts.next()) {
                (Some(literal), Some(part)) => *literal == part,
                (None, Some(part)) => !part.is_empty(),
                (_, None) => false,
            })
            && parts.next().is_none()
    }
}

/// A request being answered. Dropped without a status (the client left before the
/// response), it counts as 499, as nginx counts those.
pub struct Pending {
    metrics: Arc<HttpMetrics>,
    cell: usize,
    started: Instant,
    status: Option<StatusCode>,
}

impl Pending {
    /// The response's head is ready: the request ends with its body.
    pub fn answered<B>(mut self, status: StatusCode, body: B) -> MeteredBody<B> {
        self.status = Some(status);
        MeteredBody {
            body,
            _pending: self,
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let closed = StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST);
        let status = self.status.unwrap_or(closed);
        self.metrics.record(self.cell, status, self.started);
    }
}

pin_project_lite::pin_project! {
    /// A response's body, its request counted and timed once it is sent (or dropped).
    pub struct MeteredBody<B> {
        #[pin]
        body: B,
        _pending: Pending,
    }
}

impl<B: MessageBody> MessageBody for MeteredBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.project().body.poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> HttpMetrics {
        let templates = vec!["/api/traces", "/api/traces/{id}", "/", "/assets/{v}/{name}"];
        HttpMetrics::new(&Registry::new(), templates)
    }

    #[test]
    fn a_path_is_labelled_with_the_template_it_matches_and_never_itself() {
        let m = metrics();
        assert_eq!(m.route_label("/api/traces"), "/api/traces");
        assert_eq!(m.route_label("/api/traces/0b5e"), "/api/traces/{id}");
        assert_eq!(m.route_label("/assets/1.2/app.js"), "/assets/{v}/{name}");
        assert_eq!(m.route_label("/"), "/");
        for unknown in [
            "/api/traces/",
            "/api/traces/x/y",
            "/nope",
            "",
            "/assets/app.js",
        ] {
            assert_eq!(m.route_label(unknown), UNMATCHED, "{unknown:?}");
        }
    }

    #[test]
    fn each_status_of_a_route_is_counted_apart_even_past_the_slots_kept() {
        let m = Arc::new(metrics());
        for code in (200..200 + 2 * STATUS_SLOTS as u16).chain([200, 200]) {
            let pending = Arc::clone(&m).arrived(&Method::GET, "/api/traces/1");
            drop(pending.answered(StatusCode::from_u16(code).unwrap(), ()));
        }
        drop(Arc::clone(&m).arrived(&Method::POST, "/nope"));

        let count = |labels: [&str; 3]| m.requests.with_label_values(&labels).get();
        assert_eq!(count(["GET", "/api/traces/{id}", "200"]), 3);
        assert_eq!(count(["GET", "/api/traces/{id}", "215"]), 1);
        assert_eq!(count(["POST", UNMATCHED, "499"]), 1);
        assert_eq!(m.in_flight.get(), 0);
        let timed = m.duration.with_label_values(&["GET", "/api/traces/{id}"]);
        assert_eq!(timed.get_sample_count(), 2 * STATUS_SLOTS as u64 + 2);
    }
}
