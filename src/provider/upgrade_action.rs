//! The `hwrds_db_minor_upgrade` action (Terraform 1.14+): the same upgrade as the
//! resource, invoked on demand (`terraform apply -invoke=action.hwrds_db_minor_upgrade.x`)
//! or from a resource's `action_trigger`, streaming its progress to the terminal while
//! the job runs. It keeps no state: an upgrade already under way on the instance is
//! followed instead of submitting another, so invoking it twice never upgrades twice.
//! Its arguments, submission, what follows the submission and wait outcomes are the
//! resource's ([`super::upgrade_args`], [`super::submission`], [`crate::upgrade::flow`],
//! [`super::wait_outcome`]): a job that runs in the maintenance window (delayed, or
//! adopted while scheduled) holds no fleet slot, and an invocation does not wait for a
//! window that opens after its `timeout`. Only the progress it streams is its own.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::ProviderState;
use super::findings;
use super::plan_checks;
use super::submission;
use super::timeouts;
use super::upgrade_args;
use super::upgrade_target;
use super::wait_outcome::{self, Resume, not_waiting};
use crate::cty::{AttributePath, Type, Value};
use crate::rds::CallCtx;
use crate::schema::{Attribute, Block, Schema};
use crate::tfplugin::{Action, Ctx, Diagnostic, Diagnostics, Progress};
use crate::upgrade::adopt_or_submit::Started;
use crate::upgrade::fleet_gate::Follow;
use crate::upgrade::flow;
use crate::upgrade::job::{self, JobStatus};
use crate::upgrade::submit_once::Submitted;
use crate::upgrade::target::Target;

pub struct UpgradeAction {
    pub(super) state: Arc<ProviderState>,
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
        if let Some(d) = config
            .attr_string("instance_id")
            .as_deref()
            .and_then(findings::validate_instance_id)
        {
            diags.push(d);
        }
        if let Some(t) = config.attr_string("timeout")
            && let Err(e) = timeouts::parse(&t)
        {
            diags.push(Diagnostic::error_at(
                AttributePath::attribute("timeout"),
                "Invalid duration",
                format!("timeout: {e}."),
            ));
        }
        diags
    }

    async fn plan(&self, ctx: &Ctx, config: &Value) -> Diagnostics {
        let Some(instance_id) = upgrade_args::checkable_instance_id(config) else {
            return Diagnostics::default();
        };
        let client = match self.state.client() {
            Ok(c) => c,
            Err(d) => return d,
        };
        let call = CallCtx::new(ctx.cancel.clone());
        match self
            .state
            .catalog
            .checked_facts(client, &call, &instance_id)
            .await
        {
            Ok(facts) => {
                let checked =
                    plan_checks::diagnostics(&self.state.catalog, client, &call, facts, config)
                        .await;
                let mut diags = checked.diags;
                // The target itself cannot show: an action's plan carries no values.
                if let Some(unknown) = upgrade_target::planned(&checked.facts).1 {
                    diags.push(unknown);
                }
                diags
            }
            Err(e) => Diagnostics::from(findings::facts_diagnostic(&instance_id, &e)),
        }
    }

    async fn invoke(&self, ctx: &Ctx, config: &Value, progress: Progress) -> Diagnostics {
        let client = match self.state.client() {
            Ok(c) => c,
            Err(d) => return d,
        };
        let tracker = match self.state.tracker() {
            Ok(t) => t,
            Err(d) => return d,
        };
        let instance_id = config.attr_string("instance_id").unwrap_or_default();
        let limit = timeout(config);
        let call = CallCtx::new(ctx.cancel.clone()).with_deadline(Instant::now() + limit);
        let request = upgrade_args::request(config);
        let wait = config
            .attr_bool("wait_for_completion")
            .unwrap_or(!request.is_delayed);
        // Nothing was reviewed: the action's plan carries no values, only diagnostics.
        let submission = upgrade_args::submission(
            &instance_id,
            config,
            request,
            upgrade_args::Planned::default(),
            self.state.accept_newer_target(),
        );
        let Started {
            facts,
            submitted,
            slot,
            ..
        } = match submission::submit_checked(&self.state, client, &call, &submission).await {
            Ok(done) => done,
            Err(d) => return d,
        };
        let who = facts.describe();
        let job_id = submitted.job_id().to_string();
        let target = match Target::of(&facts) {
            Target::Version(v) => format!(", installs {v}"),
            Target::Unknown(_) => String::new(),
        };
        match &submitted {
            Submitted::New(_) => progress.report(format!(
                "{who}: upgrade submitted, job {job_id}{target}{}",
                if request.is_delayed {
                    " (runs in the maintenance window)"
                } else {
                    ""
                }
            )),
            Submitted::Adopted(job) => progress.report(format!(
                "{who}: following the upgrade already under way, job {job_id} ({})",
                job.status
            )),
        }
        // The resource's rules: a job that runs in the maintenance window holds no slot,
        // and no wait outlasts the timeout for a window that opens after it.
        let snap = flow::first_snapshot(&submitted, request.is_delayed);
        let remaining = call
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(limit);
        let asked = flow::Asked {
            is_delayed: request.is_delayed,
            wait_for_completion: wait,
        };
        let course = flow::after_submission(
            asked,
            &snap.status,
            snap.scheduled_start.as_deref(),
            time::OffsetDateTime::now_utc() + remaining,
        );
        let slot = course.holds_slot.then_some(slot);
        let follow = Follow {
            tracker,
            cancel: &ctx.cancel,
            cadence: job::WATCHED,
            job_id: &job_id,
            instance_id: &instance_id,
        };
        let waits_now = match course.next {
            flow::Next::TooLate { start } => {
                return Diagnostics::from(not_waiting(
                    Resume::Invoke,
                    &instance_id,
                    &job_id,
                    &start,
                    limit,
                ));
            }
            flow::Next::Wait => true,
            // A job that has ended already is reported as the wait sees it: at once.
            flow::Next::Finished => wait,
            flow::Next::Background => false,
        };
        if !waits_now {
            if let Some(slot) = slot {
                slot.follow_in_background(follow);
            }
            return Diagnostics::default();
        }
        let waited = follow
            .wait(&call, slot, |snap| {
                progress.report(format!(
                    "{}: job {job_id} {} {}",
                    facts.name,
                    snap.status,
                    snap.progress.as_deref().unwrap_or("")
                ));
            })
            .await;
        match waited {
            Ok(snap) if snap.status == JobStatus::Completed => {
                let after = CallCtx::new(ctx.cancel.clone())
                    .with_deadline(Instant::now() + Duration::from_secs(60));
                let version = client
                    .instance(&after, &instance_id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|i| i.datastore.complete_version)
                    .unwrap_or_else(|| "?".into());
                progress.report(format!(
                    "{}: upgrade completed, {} -> {version}",
                    facts.name,
                    facts.complete_version.as_deref().unwrap_or("?")
                ));
                Diagnostics::default()
            }
            Ok(snap) => Diagnostics::from(Diagnostic::error(
                "Upgrade job failed",
                format!(
                    "The upgrade job {job_id} of {who} ended {}: {}",
                    if snap.status == JobStatus::Failed {
                        "in failure"
                    } else {
                        "unexpectedly"
                    },
                    snap.fail_reason.as_deref().unwrap_or("no reason given")
                ),
            )),
            Err(stopped) => Diagnostics::from(wait_outcome::interrupted(
                Resume::Invoke,
                &stopped,
                limit,
                &job_id,
                &who,
            )),
        }
    }
}

/// How long an invocation follows its job.
fn timeout(config: &Value) -> Duration {
    config
        .attr_string("timeout")
        .and_then(|t| timeouts::parse(&t).ok())
        .unwrap_or(timeouts::DEFAULT)
}
