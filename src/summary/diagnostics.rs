//! The warnings (and errors) of `terraform plan -json`: a stream of JSON lines whose
//! `"type": "diagnostic"` messages carry `diagnostic.severity`, `summary`, `detail` and
//! the `address` of the resource they are about.
//!
//! Lines that are not JSON (a CI wrapper's own lines) are skipped; a log with no
//! Terraform message at all is refused.

use serde_json::Value;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Error,
}

/// One diagnostic of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDiagnostic {
    pub severity: Severity,
    pub summary: String,
    pub detail: String,
    /// The resource instance it is about, e.g. `hwrds_db_minor_upgrade.fleet["orders"]`.
    pub address: Option<String>,
}

/// Why a log cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAPlanLog;

/// The diagnostics of a `terraform plan -json` log, each once, in the log's order.
pub fn read(log: &str) -> Result<Vec<PlanDiagnostic>, NotAPlanLog> {
    let mut messages = 0usize;
    let mut found: Vec<PlanDiagnostic> = Vec::new();
    let lines = log.lines().map(str::trim).filter(|l| l.starts_with('{'));
    for message in lines.filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        if message.get("@level").is_none() || message.get("type").is_none() {
            continue;
        }
        messages += 1;
        if message["type"] != "diagnostic" {
            continue;
        }
        if let Some(diagnostic) = diagnostic(&message["diagnostic"])
            && !found.contains(&diagnostic)
        {
            found.push(diagnostic);
        }
    }
    if messages == 0 && !log.trim().is_empty() {
        return Err(NotAPlanLog);
    }
    Ok(found)
}

fn diagnostic(d: &Value) -> Option<PlanDiagnostic> {
    let severity = match d["severity"].as_str()? {
        "warning" => Severity::Warning,
        "error" => Severity::Error,
        _ => return None,
    };
    let text = |key: &str| d[key].as_str().unwrap_or_default().to_string();
    Some(PlanDiagnostic {
        severity,
        summary: text("summary"),
        detail: text("detail"),
        address: d["address"]
            .as_str()
            .filter(|a| !a.is_empty())
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"{"@level":"info","@message":"Terraform 1.15.5","@module":"terraform.ui","type":"version","terraform":"1.15.5","ui":"1.2"}
[command]/usr/bin/terraform plan -json
{"@level":"warn","@message":"Warning: Instance is already on the latest minor version","@module":"terraform.ui","type":"diagnostic","diagnostic":{"severity":"warning","summary":"Instance is already on the latest minor version","detail":"Instance inventory already runs 8.0.32.","address":"hwrds_db_minor_upgrade.fleet[\"inventory\"]"}}
{"@level":"warn","@message":"Warning: Instance is already on the latest minor version","@module":"terraform.ui","type":"diagnostic","diagnostic":{"severity":"warning","summary":"Instance is already on the latest minor version","detail":"Instance inventory already runs 8.0.32.","address":"hwrds_db_minor_upgrade.fleet[\"inventory\"]"}}
{"@level":"error","@message":"Error: Unsupported argument","@module":"terraform.ui","type":"diagnostic","diagnostic":{"severity":"error","summary":"Unsupported argument","detail":""}}
{"@level":"info","@message":"Plan: 1 to add","@module":"terraform.ui","type":"change_summary","changes":{"add":1}}
"#;

    #[test]
    fn diagnostics_once_each_with_their_address() {
        let found = read(LOG).expect("a plan log");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].severity, Severity::Warning);
        assert_eq!(
            found[0].address.as_deref(),
            Some("hwrds_db_minor_upgrade.fleet[\"inventory\"]")
        );
        assert_eq!(found[0].detail, "Instance inventory already runs 8.0.32.");
        assert_eq!(found[1].severity, Severity::Error);
        assert_eq!(found[1].address, None);
    }

    #[test]
    fn a_log_with_no_terraform_message_is_refused() {
        assert_eq!(read("Plan: 1 to add, 0 to change\n"), Err(NotAPlanLog));
        assert_eq!(read("{\"a\": 1}\n"), Err(NotAPlanLog));
        assert_eq!(read(""), Ok(vec![]), "an empty log has no warnings");
    }
}
