//! Reading one setting of the table: the block's value, else its environment variable,
//! else its default, checked against the setting's kind. A bad value is a diagnostic at
//! the attribute and reads as the default, so that reading goes on and every problem of
//! the configuration is reported at once.

use std::fmt::Display;
use std::ops::RangeInclusive;

use super::Env;
use super::settings::{Kind, Setting};
use crate::cty::{Number, Value};
use crate::rds::endpoints::check_endpoint;
use crate::tfplugin::{Diagnostic, Diagnostics};

/// A setting's value, typed by its kind. No `Debug`: it may hold a secret.
pub(super) enum Read {
    Text(String),
    Flag(bool),
    Whole(u32),
    Decimal(f64),
}

/// The block's value of `setting`: `None` when unset (null, or unknown during
/// validation), a diagnostic at the attribute when invalid.
pub(super) fn from_block(setting: &Setting, config: &Value) -> Result<Option<Read>, Diagnostic> {
    let name = setting.name;
    let invalid =
        |summary: &str, detail: String| Diagnostic::error_at(setting.path(), summary, detail);
    let out_of_range = |n: &Number, expected: String| {
        invalid(
            &format!("Invalid {name}"),
            format!("{name} must be {expected}, not {}.", shown(n)),
        )
    };
    let Some(value) = setting
        .value_in(config)
        .filter(|v| !v.is_null() && !v.is_unknown())
    else {
        return Ok(None);
    };
    match (&setting.kind, value) {
        (Kind::Text { .. } | Kind::Endpoint { .. }, Value::String(text))
            if text.trim().is_empty() =>
        {
            Err(invalid(
                "Empty setting",
                format!(
                    "{name} is set to an empty string; give it a value, or remove it to use {}.",
                    setting.env_var
                ),
            ))
        }
        (Kind::Text { .. }, Value::String(text)) => Ok(Some(Read::Text(text.clone()))),
        (Kind::Endpoint { .. }, Value::String(url)) => match check_endpoint(url) {
            Ok(()) => Ok(Some(Read::Text(url.clone()))),
            Err(error) => Err(invalid("Invalid endpoint", error.to_string())),
        },
        (Kind::Flag { .. }, Value::Bool(flag)) => Ok(Some(Read::Flag(*flag))),
        (Kind::Whole { range, .. }, Value::Number(n)) => n
            .as_i64()
            .and_then(|whole| u32::try_from(whole).ok())
            .filter(|whole| range.contains(whole))
            .map(|whole| Some(Read::Whole(whole)))
            .ok_or_else(|| out_of_range(n, in_range("a whole number", range))),
        (Kind::Decimal { range, .. }, Value::Number(n)) => Some(n.as_f64())
            .filter(|number| range.contains(number))
            .map(|number| Some(Read::Decimal(number)))
            .ok_or_else(|| out_of_range(n, in_range("a number", range))),
        // Terraform checks the attribute's type against the schema before we see it.
        _ => Err(invalid(
            &format!("Invalid {name}"),
            format!("{name} is not of the type the schema gives it."),
        )),
    }
}

/// What a number setting must be, for its diagnostics.
fn in_range<T: Display>(what: &str, range: &RangeInclusive<T>) -> String {
    format!("{what} from {} to {}", range.start(), range.end())
}

/// A number as the configuration wrote it.
fn shown(n: &Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) => f.to_string(),
        Number::Decimal(s) => s.clone(),
    }
}

/// The environment's value of `setting`: `None` when blank, a diagnostic at the
/// attribute, naming the variable, when it does not parse as the setting's kind.
fn from_env(setting: &Setting, raw: &str) -> Result<Option<Read>, Diagnostic> {
    let env_var = setting.env_var;
    let invalid =
        |summary: String, detail: String| Diagnostic::error_at(setting.path(), summary, detail);
    let not = |what: String| {
        invalid(
            format!("Invalid {env_var}"),
            format!("{env_var}={raw:?} {what}."),
        )
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    match &setting.kind {
        Kind::Text { .. } => Ok(Some(Read::Text(raw.to_string()))),
        Kind::Endpoint { .. } => match check_endpoint(raw) {
            Ok(()) => Ok(Some(Read::Text(raw.to_string()))),
            Err(error) => Err(invalid(
                "Invalid endpoint".into(),
                format!("From the environment: {error}"),
            )),
        },
        Kind::Flag { .. } => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(Read::Flag(true))),
            "false" | "0" => Ok(Some(Read::Flag(false))),
            _ => Err(not("is neither true nor false".into())),
        },
        Kind::Whole { range, .. } => trimmed
            .parse::<u32>()
            .ok()
            .filter(|whole| range.contains(whole))
            .map(|whole| Some(Read::Whole(whole)))
            .ok_or_else(|| not(format!("is not {}", in_range("a whole number", range)))),
        Kind::Decimal { range, .. } => trimmed
            .parse::<f64>()
            .ok()
            .filter(|number| range.contains(number))
            .map(|number| Some(Read::Decimal(number)))
            .ok_or_else(|| not(format!("is not {}", in_range("a number", range)))),
    }
}

/// What `setting` is when nothing sets it.
fn default(setting: &Setting) -> Option<Read> {
    match setting.kind {
        Kind::Text { default } | Kind::Endpoint { default } => {
            default.map(|text| Read::Text(text.to_string()))
        }
        Kind::Flag { default } => Some(Read::Flag(default)),
        Kind::Whole { default, .. } => default.map(Read::Whole),
        Kind::Decimal { default, .. } => default.map(Read::Decimal),
    }
}

/// Reads settings of one configuration, collecting the diagnostics of all of them.
pub(super) struct Reader<'a> {
    config: &'a Value,
    env: Env<'a>,
    /// Every error and warning so far, in the order the settings were read.
    pub diags: Diagnostics,
}

impl<'a> Reader<'a> {
    pub fn new(config: &'a Value, env: Env<'a>) -> Self {
        Reader {
            config,
            env,
            diags: Diagnostics::default(),
        }
    }

    /// `setting` from the block, else the environment, else its default. An invalid
    /// block value reads as the default, not as the environment's: the block is what
    /// the user meant.
    fn read(&mut self, setting: &Setting) -> Option<Read> {
        let found = match from_block(setting, self.config) {
            Ok(None) => match (self.env)(setting.env_var) {
                Some(raw) => from_env(setting, &raw),
                None => Ok(None),
            },
            found => found,
        };
        match found {
            Ok(Some(value)) => Some(value),
            Ok(None) => default(setting),
            Err(diagnostic) => {
                self.diags.push(diagnostic);
                default(setting)
            }
        }
    }

    /// A text or endpoint setting.
    pub fn text(&mut self, setting: &Setting) -> Option<String> {
        match self.read(setting) {
            Some(Read::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// A flag setting.
    pub fn flag(&mut self, setting: &Setting) -> bool {
        matches!(self.read(setting), Some(Read::Flag(true)))
    }

    /// A whole-number setting.
    pub fn whole(&mut self, setting: &Setting) -> Option<u32> {
        match self.read(setting) {
            Some(Read::Whole(n)) => Some(n),
            _ => None,
        }
    }

    /// A decimal setting.
    pub fn decimal(&mut self, setting: &Setting) -> Option<f64> {
        match self.read(setting) {
            Some(Read::Decimal(rate)) => Some(rate),
            _ => None,
        }
    }
}
