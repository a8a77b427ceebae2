//! Logging: tracing-subscriber with an env filter (`RUST_LOG` wins over `log.level`),
//! human-readable or JSON lines, colours only on a terminal.

use std::io::IsTerminal;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::config::{LogFormat, LogSettings};

/// Where log lines go: the server logs to stdout (what containers and journald collect);
/// other commands log to stderr so that their stdout stays machine-readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Stdout,
    Stderr,
}

/// Installs the global subscriber. A second call (tests) is a no-op.
pub fn init(settings: &LogSettings, sink: Sink) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(with_quiet_driver(settings.level.as_str())))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, terminal) = match sink {
        Sink::Stdout => (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        ),
        Sink::Stderr => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .map_event_format(WithoutLogFields)
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(fmt::layer().with_ansi(terminal).with_writer(writer))
            .try_init(),
    };
    // Already installed (tests start several apps in one process): keep the first.
    drop(result);
}

/// tokio-postgres logs every statement's parameters at debug, among them the hashes of
/// access tokens and sessions, and the questions asked: it stays at info unless the level
/// names it.
fn with_quiet_driver(level: &str) -> String {
    if level.contains("tokio_postgres") {
        level.to_string()
    } else {
        format!("{level},tokio_postgres=info")
    }
}

/// JSON lines without the `log.*` fields tracing-subscriber adds to events that come from
/// the `log` crate (refinery, tokio-postgres, rustls): `log.file` is a path on the machine
/// that built the binary (its cargo registry), `log.line` goes with it, and `log.target`
/// and `log.module_path` repeat `target`. maia's own events carry no source location in
/// either format.
struct WithoutLogFields<T>(Format<Json, T>);

impl<S, N, T> FormatEvent<S, N> for WithoutLogFields<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    Format<Json, T>: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let from_log = event
            .metadata()
            .fields()
            .iter()
            .any(|f| f.name().starts_with("log."));
        if !from_log {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match serde_json::from_str(&line) {
            Ok(serde_json::Value::Object(mut fields)) => {
                fields.retain(|name, _| !name.starts_with("log."));
                writeln!(writer, "{}", serde_json::Value::Object(fields))
            }
            // Not one JSON object (it always is): written as it came.
            _ => writer.write_str(&line),
        }
    }
}
