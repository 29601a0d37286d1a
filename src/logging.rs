//! Logs as Terraform reads them: hclog-compatible JSON lines on stderr
//! (`@level`, `@message`, `@timestamp` with six fractional digits, `@module`, fields),
//! at the level named by `TF_LOG_PROVIDER`, else `TF_LOG`; nothing when neither is set.
//!
//! Whose lines: the provider's own (targets `hwrds::*`, the API-call lines among them:
//! `hwrds::api`, one per attempt, see [`crate::rds::call_log`]) at that level; the
//! dependency crates' (h2, hyper, rustls, tonic, tower, reqwest, ...) only at TRACE, or
//! at the level `HWRDS_LOG_DEPS` asks for (see [`DepsLevel`]).
//!
//! Secrets never reach this layer: credential types redact themselves in Debug/Display.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
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

/// What `HWRDS_LOG_DEPS` asks of the dependency crates' logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepsLevel {
    /// Unset: only when the provider logs at TRACE.
    AtTraceOnly,
    /// `1`, `true`, `yes`: at the provider's level.
    Same,
    /// A level name (`debug`, `info`, ...): at that level, whatever the provider's is.
    At(LevelFilter),
    /// `0`, `false`, `no`, `off`: never, not even at TRACE.
    Never,
}

impl DepsLevel {
    /// Reads the value of `HWRDS_LOG_DEPS`; anything unrecognised counts as unset.
    pub fn from_env(value: Option<&str>) -> DepsLevel {
        let value = value.unwrap_or("").trim().to_ascii_lowercase();
        match value.as_str() {
            "1" | "true" | "yes" => DepsLevel::Same,
            "0" | "false" | "no" | "off" => DepsLevel::Never,
            "" => DepsLevel::AtTraceOnly,
            other => match level_from_env(Some(other), None) {
                LevelFilter::OFF => DepsLevel::AtTraceOnly,
                level => DepsLevel::At(level),
            },
        }
    }

    /// The level the dependency crates log at when the provider logs at `provider`.
    pub fn filter(self, provider: LevelFilter) -> LevelFilter {
        match self {
            DepsLevel::AtTraceOnly if provider == LevelFilter::TRACE => LevelFilter::TRACE,
            DepsLevel::AtTraceOnly | DepsLevel::Never => LevelFilter::OFF,
            DepsLevel::Same => provider,
            DepsLevel::At(level) => level,
        }
    }
}

/// The targets of the provider's own events (library and binary crates).
const OWN_TARGETS: [&str; 2] = ["hwrds", "terraform_provider_hwrds"];

/// Which events are logged: the provider's own at `provider`, the rest at `deps`.
pub fn targets(provider: LevelFilter, deps: DepsLevel) -> Targets {
    OWN_TARGETS
        .iter()
        .fold(Targets::new(), |t, own| t.with_target(*own, provider))
        .with_default(deps.filter(provider))
}

/// Installs the JSON-lines logger (once per process).
pub fn init() {
    let level = level_from_env(
        std::env::var("TF_LOG_PROVIDER").ok().as_deref(),
        std::env::var("TF_LOG").ok().as_deref(),
    );
    let deps = DepsLevel::from_env(std::env::var("HWRDS_LOG_DEPS").ok().as_deref());
    let _ = tracing_subscriber::registry()
        .with(HclogLayer.with_filter(targets(level, deps)))
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
    fn dependency_crates_only_at_trace_unless_asked() {
        use tracing::Level;
        let at =
            |provider, deps, target, level| targets(provider, deps).would_enable(target, &level);
        let debug = LevelFilter::DEBUG;
        let unset = DepsLevel::from_env(None);
        assert_eq!(unset, DepsLevel::AtTraceOnly);
        assert!(at(debug, unset, "hwrds::api", Level::DEBUG));
        assert!(at(debug, unset, "terraform_provider_hwrds", Level::DEBUG));
        assert!(!at(debug, unset, "h2::codec", Level::DEBUG));
        assert!(!at(debug, unset, "hyper_util::client", Level::INFO));
        assert!(at(LevelFilter::TRACE, unset, "h2::codec", Level::TRACE));
        let same = DepsLevel::from_env(Some("1"));
        assert!(at(debug, same, "tonic::transport", Level::DEBUG));
        assert!(!at(debug, same, "tonic::transport", Level::TRACE));
        let info = DepsLevel::from_env(Some("INFO"));
        assert_eq!(info, DepsLevel::At(LevelFilter::INFO));
        assert!(at(LevelFilter::TRACE, info, "rustls", Level::INFO));
        assert!(!at(LevelFilter::TRACE, info, "rustls", Level::DEBUG));
        let never = DepsLevel::from_env(Some("off"));
        assert!(!at(LevelFilter::TRACE, never, "h2", Level::ERROR));
        assert!(at(LevelFilter::TRACE, never, "hwrds::rds", Level::TRACE));
        assert_eq!(DepsLevel::from_env(Some("bogus")), DepsLevel::AtTraceOnly);
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
