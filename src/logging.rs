//! Logs as Terraform reads them: hclog-compatible JSON lines on stderr
//! (`@level`, `@message`, `@timestamp` with six fractional digits, `@module`, fields),
//! at the level named by `TF_LOG_PROVIDER`, else `TF_LOG`; nothing when neither is set.
//!
//! Secrets never reach this layer: credential types redact themselves in Debug/Display.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The level from Terraform's environment variables.
pub fn level_from_env(tf_log_provider: Option<&str>, tf_log: Option<&str>) -> LevelFilter {
    let chosen = tf_log_provider
        .filter(|v| !v.trim().is_empty())
        .or(tf_log)
        .unwrap_or("");
    match chosen.trim().to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" => LevelFilter::WARN,
        "ERROR" => LevelFilter::ERROR,
        _ => LevelFilter::OFF,
    }
}

/// Installs the JSON-lines logger (once per process).
pub fn init() {
    let level = level_from_env(
        std::env::var("TF_LOG_PROVIDER").ok().as_deref(),
        std::env::var("TF_LOG").ok().as_deref(),
    );
    let _ = tracing_subscriber::registry()
        .with(HclogLayer.with_filter(level))
        .try_init();
}

/// Writes each event as one hclog JSON line on stderr.
pub struct HclogLayer;

impl<S: tracing::Subscriber> Layer<S> for HclogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = FieldCollector::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let line = format_record(
            *meta.level(),
            time::OffsetDateTime::now_utc(),
            meta.target(),
            fields.message,
            fields.fields,
        );
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(line.as_bytes());
    }
}

#[derive(Default)]
struct FieldCollector {
    message: String,
    fields: Map<String, Json>,
}

impl Visit for FieldCollector {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.fields
                .insert(field.name().to_string(), Json::from(format!("{value:?}")));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields
                .insert(field.name().to_string(), Json::from(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .insert(field.name().to_string(), Json::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .insert(field.name().to_string(), Json::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .insert(field.name().to_string(), Json::from(value));
    }
}

/// One hclog JSON line (with the trailing newline).
pub fn format_record(
    level: tracing::Level,
    at: time::OffsetDateTime,
    target: &str,
    message: String,
    fields: Map<String, Json>,
) -> String {
    let mut record = fields;
    record.insert(
        "@level".into(),
        Json::from(level.as_str().to_ascii_lowercase()),
    );
    record.insert("@message".into(), Json::from(message));
    record.insert("@timestamp".into(), Json::from(timestamp(at)));
    record.insert("@module".into(), Json::from("hwrds"));
    record.insert("target".into(), Json::from(target));
    let mut line = Json::Object(record).to_string();
    line.push('\n');
    line
}

/// `2026-11-24T19:12:01.627659Z`: UTC, exactly six fractional digits.
pub fn timestamp(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_from_env() {
        assert_eq!(level_from_env(None, None), LevelFilter::OFF);
        assert_eq!(level_from_env(None, Some("trace")), LevelFilter::TRACE);
        assert_eq!(
            level_from_env(Some("INFO"), Some("TRACE")),
            LevelFilter::INFO
        );
        assert_eq!(level_from_env(Some(""), Some("debug")), LevelFilter::DEBUG);
        assert_eq!(level_from_env(None, Some("JSON")), LevelFilter::TRACE);
        assert_eq!(level_from_env(None, Some("bogus")), LevelFilter::OFF);
    }

    #[test]
    fn record_shape() {
        let at = time::macros::datetime!(2026-11-24 19:12:01.627659 UTC);
        assert_eq!(timestamp(at), "2026-11-24T19:12:01.627659Z");
        let mut fields = Map::new();
        fields.insert("job_id".into(), Json::from("j1"));
        let line = format_record(
            tracing::Level::INFO,
            at,
            "hwrds::x",
            "submitted".into(),
            fields,
        );
        assert!(line.ends_with('\n'));
        let parsed: Json = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(parsed["@level"], "info");
        assert_eq!(parsed["@message"], "submitted");
        assert_eq!(parsed["@timestamp"], "2026-11-24T19:12:01.627659Z");
        assert_eq!(parsed["job_id"], "j1");
    }
}
