//! The pull-request summary of a saved plan: `terraform-provider-hwrds summary --plan
//! plan.json [--log plan.log.jsonl]` prints a Markdown comment of the plan's
//! `hwrds_db_minor_upgrade` changes for a reviewer (a tfcmt-style workflow posts it).
//!
//! It reads Terraform's public JSON formats only, never the provider's internals: the
//! plan (`terraform show -json PLANFILE`), whose upgrades become typed rows
//! ([`upgrade_row`], read by [`plan`]) and whose output `excluded` or `blocked` lists the
//! instances left out ([`excluded`]); and, optionally, the log of `terraform plan -json`,
//! whose warnings it lists ([`diagnostics`]). [`markdown`] renders the comment; [`cli`]
//! is the subcommand. Uses `upgrade` for comparing versions, nothing else of the crate.

pub mod cli;
pub mod diagnostics;
pub mod excluded;
pub mod markdown;
pub mod plan;
pub mod upgrade_row;

use std::fmt;

pub use cli::{SUBCOMMAND, run};

use diagnostics::PlanDiagnostic;
use excluded::Excluded;
use upgrade_row::{Category, UpgradeRow};

/// What a summary is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The plan's `hwrds_db_minor_upgrade` changes, in its order.
    pub rows: Vec<UpgradeRow>,
    /// The plan is incomplete and cannot be applied.
    pub errored: bool,
    pub excluded: Excluded,
    /// The plan log's diagnostics; None when no log was given.
    pub diagnostics: Option<Vec<PlanDiagnostic>>,
}

/// Why an input cannot be summarized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryError {
    /// The plan is not JSON (the parser's message).
    NotJson(String),
    /// The plan given is the log of `terraform plan -json`.
    LogGivenAsPlan,
    /// JSON, but not of a saved plan (why).
    NotAPlan(String),
    /// The log has no message of `terraform plan -json`.
    NotAPlanLog,
}

impl fmt::Display for SummaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const GIVE: &str = "give the output of `terraform show -json PLANFILE`";
        match self {
            SummaryError::NotJson(e) => write!(f, "not JSON ({e}); {GIVE}"),
            SummaryError::LogGivenAsPlan => write!(
                f,
                "this is the log of `terraform plan -json` (JSON lines): give it with --log, \
                 and with --plan the output of `terraform show -json PLANFILE`"
            ),
            SummaryError::NotAPlan(why) => write!(f, "not the JSON of a saved plan: {why}; {GIVE}"),
            SummaryError::NotAPlanLog => write!(
                f,
                "not the log of `terraform plan -json`: it has no Terraform JSON message"
            ),
        }
    }
}

impl std::error::Error for SummaryError {}

impl Summary {
    /// The summary of a plan's JSON (`terraform show -json PLANFILE`), without a log.
    pub fn of_plan(text: &str) -> Result<Summary, SummaryError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            if diagnostics::read(text).is_ok_and(|_| text.trim_start().starts_with('{')) {
                SummaryError::LogGivenAsPlan
            } else {
                SummaryError::NotJson(e.to_string())
            }
        })?;
        let read = plan::read(&value)?;
        Ok(Summary {
            rows: read.rows,
            errored: read.errored,
            excluded: excluded::read(&value),
            diagnostics: None,
        })
    }

    /// Adds the diagnostics of the plan's log (`terraform plan -json`).
    pub fn with_log(self, log: &str) -> Result<Summary, SummaryError> {
        let found = diagnostics::read(log).map_err(|_| SummaryError::NotAPlanLog)?;
        Ok(Summary {
            diagnostics: Some(found),
            ..self
        })
    }

    /// The rows of one category, in the plan's order.
    pub fn of(&self, category: Category) -> impl Iterator<Item = &UpgradeRow> {
        self.rows.iter().filter(move |r| r.category() == category)
    }

    /// The Markdown comment.
    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_plans_say_what_to_give() {
        let err = |text: &str| Summary::of_plan(text).unwrap_err();
        assert!(matches!(err("Plan: 1 to add"), SummaryError::NotJson(_)));
        assert!(
            err("")
                .to_string()
                .contains("terraform show -json PLANFILE")
        );
        let log = "{\"@level\":\"info\",\"type\":\"version\",\"terraform\":\"1.15.5\"}\n\
                   {\"@level\":\"info\",\"type\":\"change_summary\"}\n";
        assert_eq!(err(log), SummaryError::LogGivenAsPlan);
        assert!(matches!(err("{\"values\": {}}"), SummaryError::NotAPlan(_)));
        let plan = Summary::of_plan("{\"format_version\": \"1.2\", \"planned_values\": {}}")
            .expect("an empty plan");
        assert_eq!(
            plan.clone().with_log("not a log"),
            Err(SummaryError::NotAPlanLog)
        );
        assert_eq!(plan.with_log("").unwrap().diagnostics, Some(vec![]));
    }

    /// The attribute names read are the resource's (or ones it is gaining).
    #[test]
    fn the_attributes_read_are_the_resources() {
        use crate::tfplugin::Provider;
        let provider = crate::provider::HwrdsProvider::new();
        let resource = provider
            .resources()
            .into_iter()
            .find(|r| r.type_name() == plan::RESOURCE_TYPE)
            .expect("the resource");
        let names: Vec<String> = resource
            .schema()
            .block
            .attributes
            .into_iter()
            .map(|a| a.name)
            .collect();
        use plan::attr::*;
        for name in [
            INSTANCE_ID,
            IS_DELAYED,
            SECOND_SWITCH,
            STATUS,
            ENGINE,
            INSTANCE_TYPE,
            VERSION_BEFORE,
            TARGET_VERSION,
            MAINTENANCE_WINDOW,
        ] {
            assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
        }
    }
}
