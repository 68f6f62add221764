//! Log output: NDJSON (default) or text on stdout (stderr for `mcp-stdio`); every JSON line carries `timestamp`, `level`,
//! `event`, `service` and `version`, plus the event's fields and its job span.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

struct JsonLines {
    service: &'static str,
    version: String,
}

#[derive(Default)]
struct FieldsToJson(Map<String, Value>);

impl Visit for FieldsToJson {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_string(), Value::from(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = FieldsToJson::default();
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::from(calseta_store::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".into(), Value::from(event.metadata().level().as_str().to_ascii_lowercase()));
        line.insert("event".into(), fields.0.remove("message").unwrap_or(Value::from("")));
        line.insert("service".into(), Value::from(self.service));
        line.insert("version".into(), Value::from(self.version.as_str()));
        line.insert("logger".into(), Value::from(event.metadata().target()));
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<String> = scope
                .from_root()
                .map(|span| {
                    let ext = span.extensions();
                    match ext.get::<FormattedFields<N>>() {
                        Some(f) if !f.is_empty() => format!("{}{{{}}}", span.name(), f),
                        _ => span.name().to_string(),
                    }
                })
                .collect();
            if !spans.is_empty() {
                line.insert("span".into(), Value::from(spans.join(" > ")));
            }
        }
        for (key, value) in fields.0 {
            line.entry(key).or_insert(value);
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Standard output (servers and workers).
    Stdout,
    /// Standard error (`mcp-stdio`, whose stdout carries the protocol).
    Stderr,
}

/// Installs the global subscriber on stdout (once per process).
pub fn init(level: &str, format: LogFormat, service: &'static str, version: &str) {
    init_on(level, format, service, version, Output::Stdout);
}

/// Installs the global subscriber on `output` (once per process).
pub fn init_on(level: &str, format: LogFormat, service: &'static str, version: &str, output: Output) {
    let filter = EnvFilter::new(format!("{level},sqlx=warn,hyper=warn,h2=warn,tower_http=warn"));
    let writer = match output {
        Output::Stdout => BoxMakeWriter::new(std::io::stdout),
        Output::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let result = match format {
        LogFormat::Json => {
            builder.event_format(JsonLines { service, version: version.to_string() }).try_init()
        }
        LogFormat::Text => builder.with_target(false).try_init(),
    };
    // A second init (tests start several apps) keeps the first subscriber.
    drop(result);
}
