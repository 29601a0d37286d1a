//! The `hwrds_db_minor_upgrade` action (Terraform 1.14+): the same upgrade as the
//! resource, invoked on demand (`terraform apply -invoke=action.hwrds_db_minor_upgrade.x`)
//! or from a resource's `action_trigger`, streaming its progress to the terminal while
//! the job runs. It keeps no state: an upgrade already under way on the instance is
//! followed instead of submitting another, so invoking it twice never upgrades twice.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::ProviderState;
use super::findings;
use super::plan_checks;
use super::submission;
use super::timeouts;
use crate::cty::{AttributePath, Type, Value};
use crate::rds::{CallCtx, UpgradeRequest, WaitSchedule};
use crate::schema::{Attribute, Block, Schema};
use crate::tfplugin::{Action, Ctx, Diagnostic, Diagnostics, Progress};
use crate::upgrade::fleet_gate::Follow;
use crate::upgrade::job::{self, Interrupted, JobStatus};
use crate::upgrade::submission::Submission;
use crate::upgrade::submit_once::Submitted;

pub struct UpgradeAction {
    pub(super) state: Arc<ProviderState>,
}

/// Progress is polled a little more eagerly than the resource does: a person watches it.
const SCHEDULE: WaitSchedule = WaitSchedule {
    initial: Duration::from_millis(250),
    second: Duration::from_millis(500),
    proportion: 0.05,
    min: Duration::from_secs(1),
    max: Duration::from_secs(15),
    not_found_grace: Duration::from_secs(5),
};

fn timeout(config: &Value) -> Duration {
    config
        .attr_string("timeout")
        .and_then(|t| timeouts::parse(&t).ok())
        .unwrap_or(timeouts::DEFAULT)
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
            "Id of the RDS instance to upgrade.",
        ))
        .attribute(Attribute::optional(
            "is_delayed",
            Type::Bool,
            "Run the upgrade in the maintenance window instead of now (MySQL only). Default `false`.",
        ))
        .attribute(Attribute::optional(
            "second_switch",
            Type::Bool,
            "MySQL primary/standby: switch back after the upgrade so the AZs stay put. Default `true`.",
        ))
        .attribute(Attribute::optional(
            "wait_for_completion",
            Type::Bool,
            "Follow the job until it finishes. Default: `true` unless `is_delayed`.",
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
        let Some(instance_id) = config.attr_string("instance_id") else {
            return Diagnostics::default();
        };
        if findings::validate_instance_id(&instance_id).is_some() {
            return Diagnostics::default();
        }
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
                plan_checks::diagnostics(client, &call, &facts, config)
                    .await
                    .0
            }
            Err(e) => Diagnostics::from(findings::facts_diagnostic(&instance_id, &e)),
        }
    }

    async fn invoke(&self, ctx: &Ctx, config: &Value, progress: Progress) -> Diagnostics {
        let client = match self.state.client() {
            Ok(c) => c,
            Err(d) => return d,
        };
        let instance_id = config.attr_string("instance_id").unwrap_or_default();
        let limit = timeout(config);
        let call = CallCtx::new(ctx.cancel.clone()).with_deadline(Instant::now() + limit);
        let request = UpgradeRequest {
            is_delayed: config.attr_bool("is_delayed").unwrap_or(false),
            second_switch: config.attr_bool("second_switch").unwrap_or(true),
        };
        let wait = config
            .attr_bool("wait_for_completion")
            .unwrap_or(!request.is_delayed);
        let submission = Submission {
            instance_id: &instance_id,
            options: findings::configured_options(config),
            request,
            planned_version: None,
        };
        let (facts, submitted, slot) =
            match submission::submit_checked(&self.state, client, &call, &submission).await {
                Ok(done) => done,
                Err(d) => return d,
            };
        let who = facts.describe();
        let job_id = submitted.job_id().to_string();
        match &submitted {
            Submitted::New(_) => progress.report(format!(
                "{who}: upgrade submitted, job {job_id}{}",
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
        // A delayed upgrade runs in the maintenance window, not now: it holds no slot.
        let slot = (!request.is_delayed).then_some(slot);
        let follow = Follow {
            client,
            cancel: &ctx.cancel,
            schedule: SCHEDULE,
            job_id: &job_id,
            instance_id: &instance_id,
        };
        if !wait {
            if let Some(slot) = slot {
                slot.follow_in_background(follow);
            }
            return Diagnostics::default();
        }
        let waited = job::wait(client, &call, &job_id, &instance_id, SCHEDULE, |snap| {
            progress.report(format!(
                "{}: job {job_id} {} {}",
                facts.name,
                snap.status,
                snap.progress.as_deref().unwrap_or("")
            ));
        })
        .await;
        let still_running = |why: &str| {
            Diagnostics::from(Diagnostic::warning(
                "Upgrade still running",
                format!(
                    "{why} The upgrade job {job_id} of {who} goes on in Huawei Cloud; invoke the action again to follow it (nothing is submitted again)."
                ),
            ))
        };
        if let Some(slot) = slot {
            slot.after_wait(&waited, follow);
        }
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
            Err(Interrupted::Cancelled(_)) => still_running("Terraform was interrupted."),
            Err(Interrupted::Timeout(_)) => {
                still_running(&format!("The timeout ({}s) was reached.", limit.as_secs()))
            }
            Err(Interrupted::Api(e)) => still_running(&format!("Following the job failed: {e}.")),
        }
    }
}
