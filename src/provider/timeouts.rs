//! The `timeouts` block (`create`, `update`) and Terraform-style durations such as
//! `90m`, `1h30m` or `45s`.

use std::fmt;
use std::time::Duration;

use crate::cty::{AttributePath, PathStep, Type, Value};
use crate::schema::{Attribute, Block, NestedBlock};
use crate::tfplugin::{Diagnostic, Diagnostics};

/// How long an apply waits for an upgrade when no timeout is configured.
pub const DEFAULT: Duration = Duration::from_secs(60 * 60);

const OPERATIONS: [(&str, &str); 2] = [
    (
        "create",
        "How long an apply waits for the upgrade (submission, busy retries and the job), e.g. `90m`. Default `60m`.",
    ),
    (
        "update",
        "How long an apply that resumes tracking an unfinished job waits, e.g. `2h`. Default `60m`.",
    ),
];

/// The `timeouts` nested block.
pub fn block() -> NestedBlock {
    let mut block = Block::new(
        "Time limits of the apply; reaching one never cancels the upgrade job, which goes on in Huawei Cloud.",
    );
    for (name, description) in OPERATIONS {
        block = block.attribute(Attribute::optional(name, Type::String, description));
    }
    NestedBlock::single("timeouts", block)
}

/// Why a text is not a duration; its text names the text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    Empty,
    /// A number with no unit after it.
    NoUnit(String),
    /// Something other than a number where a number should start.
    NotADuration(String),
    /// Digits and dots that are not a number (`1..5s`).
    BadNumber(String),
    /// A unit other than `h`, `m`, `s`, `ms`.
    BadUnit {
        text: String,
        unit: String,
    },
    /// More than a year.
    TooLong(String),
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("a duration cannot be empty"),
            DurationError::NoUnit(text) => write!(
                f,
                "{text:?} has a number without a unit (use h, m, s or ms)"
            ),
            DurationError::NotADuration(text) => {
                write!(f, "{text:?} is not a duration like 90m or 1h30m")
            }
            DurationError::BadNumber(text) => write!(f, "{text:?} has an invalid number"),
            DurationError::BadUnit { text, unit } => {
                write!(f, "{text:?} uses the unit {unit:?}; use h, m, s or ms")
            }
            DurationError::TooLong(text) => write!(f, "{text:?} is longer than a year"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration: one or more `<number><unit>` with units `h`, `m`, `s`, `ms`.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total = 0f64;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| DurationError::NoUnit(text.to_string()))?;
        if digits == 0 {
            return Err(DurationError::NotADuration(text.to_string()));
        }
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::BadNumber(text.to_string()))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            unit => {
                return Err(DurationError::BadUnit {
                    text: text.to_string(),
                    unit: unit.to_string(),
                });
            }
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    if total > 366.0 * 24.0 * 3600.0 {
        return Err(DurationError::TooLong(text.to_string()));
    }
    Ok(Duration::from_secs_f64(total))
}

fn path(operation: &str) -> AttributePath {
    AttributePath::attribute("timeouts").join(PathStep::Attribute(operation.into()))
}

/// Diagnostics for unparsable durations, at `timeouts.<operation>`.
pub fn validate(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let Some(block) = config.get_attr("timeouts") else {
        return diags;
    };
    for (operation, _) in OPERATIONS {
        if let Some(text) = block.get_attr(operation).and_then(Value::as_str)
            && let Err(e) = parse(text)
        {
            diags.push(Diagnostic::error_at(
                path(operation),
                "Invalid duration",
                format!("timeouts.{operation}: {e}."),
            ));
        }
    }
    diags
}

/// The configured timeout of `operation` in a planned or prior value, or the default.
pub fn get(value: &Value, operation: &str) -> Duration {
    value
        .get_attr("timeouts")
        .and_then(|t| t.get_attr(operation))
        .and_then(Value::as_str)
        .and_then(|text| parse(text).ok())
        .unwrap_or(DEFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "10", "m", "10x", "1h-5m", "9999h", "1..5s"] {
            assert!(parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn validation_points_at_the_operation() {
        let config = Value::object([(
            "timeouts",
            Value::object([
                ("create", Value::string("ten minutes")),
                ("update", Value::Null),
            ]),
        )]);
        let diags = validate(&config);
        assert_eq!(diags.0.len(), 1);
        assert_eq!(diags.0[0].path, Some(path("create")));
        assert_eq!(get(&config, "update"), DEFAULT);
    }
}
