//! The `hwrds_db_minor_upgrade` action (Terraform 1.14+): the same upgrade as the
//! resource, invoked on demand (`terraform apply -invoke=action.hwrds_db_minor_upgrade.x`)
//! or from a resource's `action_trigger`, streaming its progress to the terminal while
//! the job runs. It keeps no state: an upgrade already under way on the instance is
//! followed instead of submitting another, so invoking it twice never upgrades twice.
//! It is a caller of the same upgrade run as the resource ([`crate::upgrade::run`]), with
//! the same arguments and wait outcomes ([`super::upgrade_args`], [`super::wait_outcome`]):
//! a job that runs in the maintenance window holds no fleet slot, and an invocation does
//! not wait for a window that opens after its `timeout`; its diagnostics are named after
//! the instance as the resource's are ([`super::named`]). Only the progress it streams
//! is its own. An instance already on its target (and no upgrade of it in the last day)
//! gets nothing sent: the invocation says there is nothing to install, and succeeds.

use std::sync::Arc;
use std::time::Duration;

use super::ProviderState;
use super::findings;
use super::named::{named, who};
use super::not_submitted;
use super::plan_checks;
use super::timeouts;
use super::upgrade_args;
use super::upgrade_target;
use super::wait_outcome::{self, Resume};
use crate::cty::{AttributePath, Type, Value};
use crate::rds::CallCtx;
use crate::schema::{Attribute, Block, Schema};
use crate::tfplugin::{Action, Ctx, Diagnostic, Diagnostics, Progress};
use crate::upgrade::facts::InstanceFacts;
use crate::upgrade::job::JobStatus;
use crate::upgrade::run::{Ending, Event, Ran, Tracked, Waiting};
use crate::upgrade::submission::{Origin, Reviewed, Upgrade};
use crate::upgrade::target::Target;
use crate::upgrade::tracking::WATCHED;

pub struct UpgradeAction {
    pub(super) provider: Arc<ProviderState>,
}

#[async_trait::async_trait]
impl Action for UpgradeAction {
    fn type_name(&self) -> &'static str {
        "hwrds_db_minor_upgrade"
    }

    fn schema(&self) -> Schema {
        let block = Block::new(
            "Upgrades an RDS instance to the latest minor version now, printing the job's progress while it runs. An upgrade already under way on the instance is followed instead of starting another. Unlike the resource, nothing is recorded in the state.",
        )
        .attribute(Attribute::required(
            "instance_id",
            Type::String,
            upgrade_args::INSTANCE_ID,
        ))
        .attribute(Attribute::optional(
            "is_delayed",
            Type::Bool,
            &format!("{} Default `false`.", upgrade_args::IS_DELAYED),
        ))
        .attribute(Attribute::optional(
            "second_switch",
            Type::Bool,
            &format!("{} Default `true`.", upgrade_args::SECOND_SWITCH),
        ))
        .attribute(Attribute::optional(
            "wait_for_completion",
            Type::Bool,
            upgrade_args::WAIT_FOR_COMPLETION,
        ))
        .attribute(Attribute::optional(
            "timeout",
            Type::String,
            "How long to follow the job, e.g. `90m`. Default `60m`; the job itself goes on after it.",
        ));
        Schema { version: 0, block }
    }

    async fn validate_config(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let instance_id = config.attr_string("instance_id");
        let invalid_id = instance_id
            .as_deref()
            .and_then(findings::validate_instance_id);
        // No name yet (the instance is not read before the plan): its id names it.
        let who = match invalid_id {
            Some(d) => {
                diags.push(d);
                ""
            }
            None => instance_id.as_deref().unwrap_or_default(),
        };
        if let Some(t) = config.attr_string("timeout")
            && let Err(e) = timeouts::parse(&t)
        {
            diags.push(Diagnostic::error_at(
                AttributePath::attribute("timeout"),
                "Invalid duration",
                format!("timeout: {e}."),
            ));
        }
        named(diags, who)
    }

    async fn plan(&self, ctx: &Ctx, config: &Value) -> Diagnostics {
        let Some(instance_id) = upgrade_args::checkable_instance_id(config) else {
            return Diagnostics::default();
        };
        let (diags, name) = self.plan_checked(ctx, config, &instance_id).await;
        named(diags, who(name.as_deref(), &instance_id))
    }

    async fn invoke(&self, ctx: &Ctx, config: &Value, progress: Progress) -> Diagnostics {
        let instance_id = config.attr_string("instance_id").unwrap_or_default();
        let (diags, name) = self.invoked(ctx, config, &instance_id, progress).await;
        let name = name.or_else(|| self.listed_name(&instance_id));
        named(diags, who(name.as_deref(), &instance_id))
    }
}

// ---- The operations' bodies, their diagnostics named by the callers above ----

impl UpgradeAction {
    /// The plan's checks of upgrading `instance_id`, and the instance's name when read.
    async fn plan_checked(
        &self,
        ctx: &Ctx,
        config: &Value,
        instance_id: &str,
    ) -> (Diagnostics, Option<String>) {
        let client = match self.provider.client() {
            Ok(c) => c,
            Err(d) => return (d, None),
        };
        let call = CallCtx::new(ctx.cancel.clone());
        match self
            .provider
            .catalog
            .checked_facts(client, &call, instance_id)
            .await
        {
            Ok(facts) => {
                let checked =
                    plan_checks::diagnostics(&self.provider.catalog, client, &call, facts, config)
                        .await;
                let mut diags = checked.diags;
                // The target itself cannot show: an action's plan carries no values.
                if let Some(unknown) = upgrade_target::planned(&checked.facts).1 {
                    diags.push(unknown);
                }
                (diags, Some(checked.facts.name))
            }
            Err(e) => (
                Diagnostics::from(findings::facts_diagnostic(instance_id, &e)),
                None,
            ),
        }
    }

    /// The instance's name as this process's listing shows it, if it has one (no request).
    fn listed_name(&self, instance_id: &str) -> Option<String> {
        let (_, listing) = self.provider.catalog.snapshot()?;
        let found = listing.iter().find(|i| i.id == instance_id)?;
        Some(found.name.clone())
    }

    /// The upgrade run of an invocation, its progress streamed; the instance's name when
    /// the run read it.
    async fn invoked(
        &self,
        ctx: &Ctx,
        config: &Value,
        instance_id: &str,
        progress: Progress,
    ) -> (Diagnostics, Option<String>) {
        let upgrades = match self.provider.upgrades() {
            Ok(upgrades) => upgrades,
            Err(d) => return (d, None),
        };
        let instance_id = instance_id.to_string();
        // Nothing was reviewed: the action's plan carries no values, only diagnostics.
        let upgrade =
            upgrade_args::upgrade(&instance_id, config, config, Reviewed::default(), None);
        let waiting = Waiting {
            cancel: ctx.cancel.clone(),
            limit: timeout(config),
            cadence: WATCHED,
        };
        // Progress lines name the instance as the submission found it (its id when it
        // has no name).
        let mut name = instance_id.clone();
        let mut report = |event: Event<'_>| {
            if let Event::Began { facts, .. } = &event {
                name = who(Some(&facts.name), &facts.id).to_string();
            }
            progress.report(event_line(&event, &upgrade, &name));
        };
        let ran = match upgrades.run(&upgrade, &waiting, &mut report).await {
            Ok(Ran::Job(ran)) => ran,
            Ok(Ran::UpToDate(facts)) => {
                progress.report(up_to_date_line(&facts));
                return (Diagnostics::default(), Some(facts.name.clone()));
            }
            Err(e) => return (not_submitted::diagnostics(&instance_id, e), None),
        };
        let name = Some(ran.facts.name.clone());
        let Tracked { job, ending } = &ran.tracked;
        let who = ran.facts.describe();
        if *ending != Ending::Finished {
            let said = (instance_id.as_str(), who.as_str());
            let warning =
                wait_outcome::of_ending(Resume::Invoke, ending, waiting.limit, &job.id, said);
            return (warning.map(Diagnostics::from).unwrap_or_default(), name);
        }
        if job.status == JobStatus::Completed {
            progress.report(format!(
                "{}: upgrade completed, {} -> {}",
                super::named::who(Some(&ran.facts.name), &instance_id),
                ran.facts.complete_version.as_deref().unwrap_or("?"),
                job.version_after.as_deref().unwrap_or("?")
            ));
            return (Diagnostics::default(), name);
        }
        let failed = Diagnostic::error(
            "Upgrade job failed",
            format!(
                "The upgrade job {} of {who} ended {}: {}",
                job.id,
                if job.status == JobStatus::Failed {
                    "in failure"
                } else {
                    "unexpectedly"
                },
                job.fail_reason.as_deref().unwrap_or("no reason given")
            ),
        );
        (Diagnostics::from(failed), name)
    }
}

/// The progress line of a run's `event` for the instance called `name`.
fn event_line(event: &Event<'_>, upgrade: &Upgrade<'_>, name: &str) -> String {
    match event {
        Event::Began { facts, obtained } => {
            let who = facts.describe();
            let job_id = &obtained.job.id;
            match obtained.origin {
                Origin::Submitted => {
                    let target = match Target::of(facts) {
                        Target::Version(v) => format!(", installs {v}"),
                        Target::Unknown(_) => String::new(),
                    };
                    let window = if upgrade.request.is_delayed {
                        " (runs in the maintenance window)"
                    } else {
                        ""
                    };
                    format!("{who}: upgrade submitted, job {job_id}{target}{window}")
                }
                Origin::Adopted => format!(
                    "{who}: following the upgrade already under way, job {job_id} ({})",
                    obtained.job.status
                ),
            }
        }
        Event::Progress(snap) => format!(
            "{name}: job {} {} {}",
            snap.id,
            snap.status,
            snap.progress.as_deref().unwrap_or("")
        ),
    }
}

/// The line of an invocation with nothing to install: the instance already runs its
/// target and no upgrade of it in the last day shows.
fn up_to_date_line(facts: &InstanceFacts) -> String {
    format!(
        "{}: already runs {}, its latest minor version: nothing to install, nothing submitted",
        facts.describe(),
        facts.complete_version.as_deref().unwrap_or("?")
    )
}

/// How long an invocation follows its job.
fn timeout(config: &Value) -> Duration {
    config
        .attr_string("timeout")
        .and_then(|t| timeouts::parse(&t).ok())
        .unwrap_or(timeouts::DEFAULT)
}
