//! The summary as a Markdown pull-request comment (GitHub-flavoured: tables and alerts).

use std::collections::HashMap;

use super::Summary;
use super::diagnostics::{PlanDiagnostic, Severity};
use super::excluded::Unlisted;
use super::upgrade_row::{Category, Change, Planned, UpgradeRow, Version};

/// The first line: a hidden marker a workflow can find to update its comment.
pub const MARKER: &str = "<!-- hwrds-summary -->";

/// How many rows the summary has of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Upgrades to review, by change.
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub nothing_to_install: usize,
    pub skipped: usize,
    pub unchanged: usize,
    pub excluded: usize,
    pub destroyed: usize,
    /// Every replacement, with or without something to install.
    pub replaced: usize,
}

impl Counts {
    pub fn of(summary: &Summary) -> Counts {
        let mut counts = Counts {
            excluded: summary.excluded.instances.len(),
            ..Counts::default()
        };
        for row in &summary.rows {
            match (row.category(), row.change) {
                (Category::Upgrade, Change::Create) => counts.create += 1,
                (Category::Upgrade, Change::Update) => counts.update += 1,
                (Category::Upgrade, _) => counts.replace += 1,
                (Category::NothingToInstall, _) => counts.nothing_to_install += 1,
                (Category::Skipped, _) => counts.skipped += 1,
                (Category::Unchanged, _) => counts.unchanged += 1,
                (Category::Destroyed, _) => counts.destroyed += 1,
            }
            if row.change == Change::Replace {
                counts.replaced += 1;
            }
        }
        counts
    }

    /// Upgrades planned: created, updated in place or replaced, with something to install.
    pub fn upgrades(&self) -> usize {
        self.create + self.update + self.replace
    }
}

/// The comment.
pub fn render(summary: &Summary) -> String {
    let counts = Counts::of(summary);
    let mut out = format!("{MARKER}\n### hwrds: minor version upgrades in this plan\n\n");
    if summary.errored {
        out.push_str("> [!CAUTION]\n> The plan has errors: it cannot be applied.\n\n");
    }
    counts_list(&mut out, &counts);
    attention(&mut out, summary, &counts);
    upgrades_table(&mut out, summary);
    nothing_to_install(&mut out, summary);
    skipped(&mut out, summary);
    unchanged(&mut out, summary);
    excluded(&mut out, summary);
    diagnostics(&mut out, summary);
    out
}

fn counts_list(out: &mut String, c: &Counts) {
    let flagged = |n: usize, what: &str| {
        if n > 0 {
            format!("**{what}: {n}** ⚠️")
        } else {
            format!("{what}: {n}")
        }
    };
    out.push_str(&format!(
        "- **Upgrades planned: {}** ({} to create, {} to update in place, {} to replace)\n\
         - Nothing to install: {}\n- Skipped (blocked now): {}\n- Unchanged: {}\n- Excluded: {}\n- {} · {}\n\n",
        c.upgrades(),
        c.create,
        c.update,
        c.replace,
        c.nothing_to_install,
        c.skipped,
        c.unchanged,
        c.excluded,
        flagged(c.replaced, "Replaced"),
        flagged(c.destroyed, "Destroyed"),
    ));
}

/// The changes a reviewer must notice: replacements and destroys.
fn attention(out: &mut String, summary: &Summary, c: &Counts) {
    if c.replaced + c.destroyed == 0 {
        return;
    }
    out.push_str("> [!WARNING]\n");
    if c.replaced > 0 {
        out.push_str(
            "> **Replaced** upgrades are submitted again (a `triggers` change or a new attempt):\n",
        );
        for row in summary.rows.iter().filter(|r| r.change == Change::Replace) {
            out.push_str(&format!("> - {}\n", instance(row)));
        }
    }
    if c.destroyed > 0 {
        if c.replaced > 0 {
            // A blank quoted line ends the list above.
            out.push_str(">\n");
        }
        out.push_str(
            "> **Destroyed** upgrade records are forgotten; the instances keep their versions:\n",
        );
        for row in summary.rows.iter().filter(|r| r.change == Change::Destroy) {
            out.push_str(&format!("> - {}\n", instance(row)));
        }
    }
    out.push('\n');
}

fn upgrades_table(out: &mut String, summary: &Summary) {
    let rows: Vec<&UpgradeRow> = summary.of(Category::Upgrade).collect();
    if rows.is_empty() {
        out.push_str("No minor version upgrade to submit.\n\n");
        return;
    }
    out.push_str(
        "| Instance | Engine | Type | From → To | Impact | When |\n\
         |---|---|---|---|---|---|\n",
    );
    for row in rows {
        let name = match row.change {
            Change::Create => escape(&row.name),
            other => format!("{} ({})", escape(&row.name), other.label()),
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {} → {} | {} | {} |\n",
            text(row.engine.as_deref()),
            text(
                row.instance_type
                    .as_ref()
                    .map(ToString::to_string)
                    .as_deref()
            ),
            version(&row.version_before, "(known after apply)"),
            version(&row.target_version, "? (see the warnings)"),
            escape(&row.impact.to_string()),
            escape(&row.timing.to_string()),
        ));
    }
    out.push('\n');
}

fn nothing_to_install(out: &mut String, summary: &Summary) {
    let rows: Vec<&UpgradeRow> = summary.of(Category::NothingToInstall).collect();
    if rows.is_empty() {
        return;
    }
    out.push_str(&format!("#### Nothing to install ({})\n\n", rows.len()));
    for row in rows {
        let why = match (row.version_before.known(), row.target_version.known()) {
            (Some(before), Some(target)) if before.same_as(target) => {
                format!(
                    "already runs {}, the target {}",
                    escape(&before.0),
                    escape(&target.0)
                )
            }
            _ => format!("status {}", text(row.status.as_deref())),
        };
        out.push_str(&format!("- {}: {why}\n", instance(row)));
    }
    out.push('\n');
}

/// Upgrades skipped because something blocks the instance now (the warnings and the
/// excluded output say what).
fn skipped(out: &mut String, summary: &Summary) {
    let rows: Vec<&UpgradeRow> = summary.of(Category::Skipped).collect();
    if rows.is_empty() {
        return;
    }
    out.push_str(&format!(
        "#### Skipped: blocked now ({})

",
        rows.len()
    ));
    for row in rows {
        out.push_str(&format!(
            "- {}: nothing submitted; every plan checks it again\n",
            instance(row)
        ));
    }
    out.push('\n');
}

/// Unchanged records: folded, as a fleet already upgraded has many.
fn unchanged(out: &mut String, summary: &Summary) {
    let rows: Vec<&UpgradeRow> = summary.of(Category::Unchanged).collect();
    if rows.is_empty() {
        return;
    }
    out.push_str(&format!(
        "<details><summary>Unchanged ({})</summary>\n\n",
        rows.len()
    ));
    for row in rows {
        let status = row
            .status
            .as_deref()
            .map(|s| format!(" — {}", escape(s)))
            .unwrap_or_default();
        out.push_str(&format!("- {}{status}\n", instance(row)));
    }
    out.push_str("\n</details>\n\n");
}

fn excluded(out: &mut String, summary: &Summary) {
    let excluded = &summary.excluded;
    if excluded.instances.is_empty() && excluded.unlisted.is_empty() {
        return;
    }
    out.push_str(&format!("#### Excluded ({})\n\n", excluded.instances.len()));
    for e in &excluded.instances {
        let why = if e.reasons.is_empty() {
            "no reason given".to_string()
        } else {
            e.reasons
                .iter()
                .map(|r| escape(r))
                .collect::<Vec<_>>()
                .join("; ")
        };
        out.push_str(&format!("- **{}**: {why}\n", escape(&e.instance)));
    }
    for (name, why) in &excluded.unlisted {
        let why = match why {
            Unlisted::Unknown => "is known only after the apply",
            Unlisted::Sensitive => "is sensitive: not shown",
            Unlisted::NotAMap => "is not a map of instance to reason",
        };
        out.push_str(&format!("- _The output `{name}` {why}._\n"));
    }
    out.push('\n');
}

fn diagnostics(out: &mut String, summary: &Summary) {
    let Some(all) = &summary.diagnostics else {
        return;
    };
    let names: HashMap<&str, &UpgradeRow> = summary
        .rows
        .iter()
        .map(|r| (r.address.as_str(), r))
        .collect();
    for (severity, title) in [(Severity::Error, "Errors"), (Severity::Warning, "Warnings")] {
        let found: Vec<&PlanDiagnostic> = all.iter().filter(|d| d.severity == severity).collect();
        if found.is_empty() {
            if severity == Severity::Warning {
                out.push_str("No warnings.\n");
            }
            continue;
        }
        out.push_str(&format!("#### {title} ({})\n\n", found.len()));
        for d in found {
            let row = d.address.as_deref().and_then(|a| names.get(a));
            let about = match (d.address.as_deref(), row) {
                (_, Some(row)) => format!("**{}**", escape(&row.name)),
                (Some(address), None) => format!("`{}`", address.replace('`', "'")),
                (None, None) => "(no instance)".to_string(),
            };
            // The provider's summaries begin with the instance's name already.
            let said = flat(&d.summary);
            let said = row
                .and_then(|r| said.strip_prefix(&format!("{}: ", r.name)))
                .unwrap_or(&said);
            let detail = flat(&d.detail);
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(" — {}", escape(&detail))
            };
            out.push_str(&format!("- {about}: {}{detail}\n", escape(said)));
        }
        out.push('\n');
    }
}

/// `**name**` and its address.
fn instance(row: &UpgradeRow) -> String {
    format!(
        "**{}** (`{}`)",
        escape(&row.name),
        row.address.replace('`', "'")
    )
}

fn version(v: &Planned<Version>, otherwise: &str) -> String {
    match v {
        Planned::Known(v) => escape(&v.0),
        Planned::Unknown => "(known after apply)".to_string(),
        Planned::Null => otherwise.to_string(),
        Planned::Sensitive => "(sensitive)".to_string(),
    }
}

fn text(v: Option<&str>) -> String {
    v.map(escape).unwrap_or_else(|| "—".to_string())
}

/// Text on one line.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text from the plan made safe in a table cell or a list item.
fn escape(text: &str) -> String {
    flat(text)
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::excluded::{Excluded, Exclusion};
    use crate::summary::upgrade_row::{Impact, InstanceType, Timing};

    fn row(name: &str, change: Change, before: &str, target: &str) -> UpgradeRow {
        UpgradeRow {
            address: format!("hwrds_db_minor_upgrade.fleet[\"{name}\"]"),
            name: name.into(),
            instance_id: Some(format!("{name}-id")),
            change,
            engine: Some("MySQL".into()),
            instance_type: Some(InstanceType::Ha),
            version_before: Planned::Known(Version(before.into())),
            target_version: Planned::Known(Version(target.into())),
            status: None,
            impact: Impact::TwoSwitchovers,
            timing: Timing::Now,
        }
    }

    fn summary() -> Summary {
        let mut delayed = row("billing", Change::Create, "8.0.28", "8.0.32");
        delayed.timing = Timing::Window(Some("18:00-19:00".into()));
        delayed.impact = Impact::Restart;
        delayed.instance_type = Some(InstanceType::Single);
        let mut frozen = row("frozen", Change::Update, "8.0.28", "8.0.32");
        frozen.status = Some("Skipped".into());
        let mut unknown = row("fresh", Change::Create, "", "");
        unknown.version_before = Planned::Unknown;
        unknown.target_version = Planned::Null;
        Summary {
            rows: vec![
                row("orders", Change::Create, "8.0.25", "8.0.32"),
                delayed,
                unknown,
                row("inventory", Change::Create, "8.0.32.240101", "8.0.32"),
                row("old", Change::Destroy, "8.0.28", "8.0.32"),
                row("again", Change::Replace, "8.0.32", "8.0.33"),
                row("done", Change::Unchanged, "8.0.28", "8.0.32"),
                frozen,
            ],
            errored: false,
            excluded: Excluded {
                instances: vec![Exclusion {
                    instance: "payments-replica".into(),
                    reasons: vec!["read replica | upgraded with its primary".into()],
                }],
                unlisted: vec![("blocked", Unlisted::Unknown)],
            },
            diagnostics: Some(vec![
                PlanDiagnostic {
                    severity: Severity::Warning,
                    summary: "Instance is already on the latest minor version".into(),
                    detail: "It already runs\n8.0.32.".into(),
                    address: Some("hwrds_db_minor_upgrade.fleet[\"inventory\"]".into()),
                },
                PlanDiagnostic {
                    severity: Severity::Warning,
                    summary: "Provider-wide".into(),
                    detail: String::new(),
                    address: None,
                },
            ]),
        }
    }

    #[test]
    fn counts_put_each_row_in_one_place_and_flag_replacements() {
        let counts = Counts::of(&summary());
        assert_eq!(
            counts,
            Counts {
                create: 3,
                update: 0,
                replace: 1,
                nothing_to_install: 1,
                skipped: 1,
                unchanged: 1,
                excluded: 1,
                destroyed: 1,
                replaced: 1,
            }
        );
        assert_eq!(counts.upgrades(), 4);
    }

    #[test]
    fn the_comment_has_the_counts_rows_and_lists() {
        let text = render(&summary());
        assert!(text.starts_with(MARKER), "{text}");
        for expected in [
            "- **Upgrades planned: 4** (3 to create, 0 to update in place, 1 to replace)",
            "- Nothing to install: 1",
            "- Skipped (blocked now): 1",
            "#### Skipped: blocked now (1)\n\n- **frozen** (`hwrds_db_minor_upgrade.fleet[\"frozen\"]`): nothing submitted; every plan checks it again",
            "- **Replaced: 1** ⚠️ · **Destroyed: 1** ⚠️",
            "> [!WARNING]",
            "> - **again** (`hwrds_db_minor_upgrade.fleet[\"again\"]`)\n>\n> **Destroyed**",
            "> - **old** (`hwrds_db_minor_upgrade.fleet[\"old\"]`)",
            "| orders | MySQL | Ha | 8.0.25 → 8.0.32 | two switchovers | now |",
            "| billing | MySQL | Single | 8.0.28 → 8.0.32 | restart | maintenance window 18:00-19:00 UTC |",
            "| fresh | MySQL | Ha | (known after apply) → ? (see the warnings) |",
            "| again (replace) | MySQL | Ha | 8.0.32 → 8.0.33 |",
            "- **inventory** (`hwrds_db_minor_upgrade.fleet[\"inventory\"]`): already runs 8.0.32.240101, the target 8.0.32",
            "<details><summary>Unchanged (1)</summary>",
            "- **payments-replica**: read replica \\| upgraded with its primary",
            "- _The output `blocked` is known only after the apply._",
            "#### Warnings (2)",
            "- **inventory**: Instance is already on the latest minor version — It already runs 8.0.32.",
            "- (no instance): Provider-wide\n",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        assert!(
            !text.contains("| inventory |"),
            "a no-op is not an upgrade row"
        );
        assert!(!text.contains("| old"), "a destroy is not an upgrade row");
        assert!(
            !text.contains("| frozen"),
            "a skipped upgrade is not an upgrade row"
        );
    }

    #[test]
    fn an_empty_plan_says_there_is_nothing_to_submit() {
        let empty = Summary {
            rows: vec![],
            errored: true,
            excluded: Excluded::default(),
            diagnostics: Some(vec![]),
        };
        let text = render(&empty);
        assert!(text.contains("> [!CAUTION]"), "{text}");
        assert!(
            text.contains("No minor version upgrade to submit."),
            "{text}"
        );
        assert!(text.contains("No warnings."), "{text}");
        assert!(!text.contains("[!WARNING]"), "{text}");
        let no_log = Summary {
            diagnostics: None,
            ..empty
        };
        assert!(!render(&no_log).contains("warnings"));
    }
}
