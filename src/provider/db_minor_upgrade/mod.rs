//! `hwrds_db_minor_upgrade`: one minor version upgrade of an RDS instance — checked in
//! the plan, submitted exactly once on apply, tracked to the end.
//!
//! The whole behaviour, in the order Terraform meets it:
//! - **Plan** (create): the instance is looked up (one shared listing per provider
//!   process) and the seed's constraints run as diagnostics at the attribute they are
//!   about; `engine`, `instance_type`, `version_before` and `target_version` (the
//!   version the upgrade installs; null with a warning when it cannot be told) are known
//!   in the plan (`version_before` not while an upgrade is under way: it may complete
//!   before the apply) and carried to the apply's final plan ([`plan_carry`]).
//!   Plan (existing): a job still running with `wait_for_completion` plans an in-place
//!   update that resumes waiting; a `Failed` job plans a replacement (a new attempt).
//! - **Create**: adopt an upgrade already under way, else submit once (busy retried
//!   until the create timeout, a lost answer resolved from the task center, never
//!   re-sent blindly; nothing sent when right before it the upgrade would install
//!   another version than `target_version`, unless the provider's
//!   `accept_newer_target`), then wait when asked; a completed job whose version is not
//!   the target warns. An interrupted or timed-out wait returns the state with the job
//!   id and a warning — not an error, which would taint the resource and make the next
//!   apply submit again.
//! - **Read**: follows an unfinished job (job API, task center, scheduled tasks, then
//!   the instance's version); a finished job is final and costs no request (unless the
//!   version read after completion failed: it is asked once more).
//! - **Delete** forgets (an upgrade cannot be undone). **Import** takes
//!   `<instance_id>/<job_id>` or `<instance_id>` (its most recent upgrade job), or the
//!   same as an identity ([`super::upgrade_identity`]); a state `moved` from the official
//!   provider has no job until the first read adopts one ([`moved`]).
//! - **Delayed upgrades** ([`delayed`]): the plan shows the maintenance window, the state
//!   the scheduled start and end. A scheduled job cannot be cancelled or run early through
//!   the API, so a create that meets one while `is_delayed = false` adopts it with a
//!   warning saying it does not run now (the instance would refuse a second upgrade), and
//!   an apply never waits for a window that opens after its timeout: it returns at once
//!   with the job recorded as `Scheduled` (the rules after a submission, the slot
//!   included, are [`crate::upgrade::flow`]'s, shared with the action). Replacing a
//!   resource whose job is scheduled warns at plan that applying will not run it now;
//!   its destroy says it will still run.
//!
//! The folder: this file holds the `Resource` operations in that order (plan, create,
//! read, update, delete, import); [`model`] owns the attribute names and the typed plan
//! and state every part works on, and depends on no other part; [`mod@schema`] shows them to
//! Terraform; [`delayed`], [`import`], [`moved`] and [`plan_carry`] depend on the model
//! only; [`outcome`] follows the job and records it. The checks, the submission and the
//! job are the domain's ([`crate::upgrade`]); the arguments, the submission's diagnostics
//! and the wait outcomes are shared with the action ([`super::upgrade_args`],
//! [`super::submission`], [`super::wait_outcome`]).

mod delayed;
mod import;
pub(super) mod model;
mod moved;
mod outcome;
mod plan_carry;
mod schema;

use std::sync::Arc;

use tokio::time::Instant;

use self::model::{Field, UpgradeState, attr};
use self::plan_carry::Carried;
use super::ProviderState;
use super::dr_relation;
use super::findings;
use super::plan_checks;
use super::project_lookup;
use super::submission;
use super::timeouts;
use super::upgrade_args;
use super::upgrade_identity;
use super::upgrade_target;
use super::wait_outcome::{Resume, not_waiting};
use crate::cty::{AttributePath, Value};
use crate::rds::models::rfc3339;
use crate::rds::{CallCtx, RdsClient, RdsError};
use crate::schema::Schema;
use crate::tfplugin::{
    Ctx, Diagnostic, Diagnostics, IdentitySchema, MoveSource, MovedState, Plan, Resource,
    StateResult,
};
use crate::upgrade::adopt_or_submit::Started;
use crate::upgrade::flow;
use crate::upgrade::job::{self, JobStatus};
use crate::upgrade::submit_once::Submitted;
use crate::upgrade::target::Target;
use crate::upgrade::tracking::JobTracker;

pub use self::schema::schema;

pub struct DbMinorUpgrade {
    pub(super) state: Arc<ProviderState>,
}

#[async_trait::async_trait]
impl Resource for DbMinorUpgrade {
    fn type_name(&self) -> &'static str {
        "hwrds_db_minor_upgrade"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    async fn validate_config(&self, config: &Value) -> Diagnostics {
        let mut diags = timeouts::validate(config);
        let config = UpgradeState::from_value(config);
        if let Some(d) = config
            .instance_id
            .as_deref()
            .and_then(findings::validate_instance_id)
        {
            diags.push(d);
        }
        if config.is_delayed.is(&true) && config.wait_for_completion.is(&true) {
            diags.push(Diagnostic::warning_at(
                AttributePath::attribute(attr::WAIT_FOR_COMPLETION),
                "The apply will wait for the maintenance window",
                "is_delayed = true runs the upgrade in the instance's maintenance window; with wait_for_completion = true the apply blocks until the window has come and the job has finished (or the create timeout).",
            ));
        }
        diags
    }

    async fn modify_plan(&self, ctx: &Ctx, plan: &mut Plan) -> Diagnostics {
        let mut planned = UpgradeState::from_value(&plan.planned);
        let diags = self.plan(ctx, plan, &mut planned).await;
        plan.planned = planned.to_value();
        diags
    }

    async fn create(
        &self,
        ctx: &Ctx,
        planned: &Value,
        config: &Value,
        _private: &[u8],
    ) -> StateResult {
        let (client, tracker) = match self.client_and_tracker() {
            Ok(both) => both,
            Err(d) => return StateResult::error(d),
        };
        let mut state = UpgradeState::from_value(planned);
        let instance_id = state.instance_id().to_string();
        let limit = timeouts::get(planned, "create");
        let call = CallCtx::new(ctx.cancel.clone()).with_deadline(Instant::now() + limit);
        let request = state.request();
        let planned_target = state.target_version.known().cloned();
        let versions = upgrade_args::Planned {
            version: state.version_before.as_deref(),
            target: planned_target.as_deref(),
        };
        let accept_newer = self.state.accept_newer_target();
        let submission =
            upgrade_args::submission(&instance_id, config, request, versions, accept_newer);
        let Started {
            facts,
            submitted,
            slot,
            newer_target,
        } = match submission::submit_checked(&self.state, client, &call, &submission).await {
            Ok(done) => done,
            Err(d) => return StateResult::error(d),
        };

        state.set_job(submitted.job_id());
        let job_id = submitted.job_id().to_string();
        state.engine = facts.engine.as_str().into();
        state.instance_type = facts.instance_type.as_str().into();
        state.version_before.fill(facts.complete_version.clone());
        state
            .target_version
            .fill(Target::of(&facts).version().map(str::to_string));
        state.version_after = Field::Null;
        let mut diags = Diagnostics::default();
        if let (Some(reviewed), Some(now)) = (&planned_target, &newer_target) {
            diags.push(upgrade_target::newer_installed(&facts, reviewed, now));
        }
        let snap = flow::first_snapshot(&submitted, request.is_delayed);
        match &submitted {
            Submitted::New(_) => {
                state.submitted_at = rfc3339(time::OffsetDateTime::now_utc()).into();
            }
            Submitted::Adopted(job) => {
                let at = job
                    .created
                    .clone()
                    .unwrap_or_else(|| rfc3339(time::OffsetDateTime::now_utc()));
                state.submitted_at = at.into();
                if job.status == JobStatus::Scheduled && !request.is_delayed {
                    diags.push(delayed::adopted_while_immediate(&instance_id, job));
                } else {
                    diags.push(Diagnostic::warning_at(
                        AttributePath::attribute(attr::INSTANCE_ID),
                        "Adopted an upgrade already under way",
                        format!(
                            "Instance {instance_id} already had upgrade job {} ({}); this resource tracks it instead of submitting another.",
                            job.id, job.status
                        ),
                    ));
                }
            }
        }
        let times = match &submitted {
            Submitted::New(id) if request.is_delayed => {
                job::new_job_times(client, &call, &instance_id, id).await
            }
            _ => Some(snap.clone()),
        };
        delayed::record_at_create(
            &mut state,
            facts.maintenance_window.as_deref(),
            request.is_delayed,
            times.as_ref(),
        );
        state.record(&snap);
        let elapsed_limit = call
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(limit);
        let asked = flow::Asked {
            is_delayed: request.is_delayed,
            wait_for_completion: state.waits(),
        };
        let course = flow::after_submission(
            asked,
            &snap.status,
            times.as_ref().and_then(|t| t.scheduled_start.as_deref()),
            time::OffsetDateTime::now_utc() + elapsed_limit,
        );
        let slot = course.holds_slot.then_some(slot);
        match course.next {
            flow::Next::Finished => {
                outcome::finish(client, &call, &mut state, &snap).await;
                if let Some(slot) = slot {
                    slot.finished(&instance_id, &snap);
                }
            }
            flow::Next::TooLate { start } => diags.push(not_waiting(
                Resume::Apply,
                &instance_id,
                &job_id,
                &start,
                elapsed_limit,
            )),
            flow::Next::Wait => diags.extend(
                outcome::wait_and_record(ctx, client, tracker, &mut state, elapsed_limit, slot)
                    .await,
            ),
            flow::Next::Background => {
                if let Some(slot) = slot {
                    slot.follow_in_background(outcome::follow(ctx, tracker, &job_id, &instance_id));
                }
            }
        }
        if let Some(warning) = outcome::installed_differs(&state, newer_target.as_deref()) {
            diags.push(warning);
        }
        StateResult {
            state: Some(state.to_value()),
            private: Vec::new(),
            diagnostics: diags,
        }
    }

    async fn read(&self, ctx: &Ctx, state: &Value, private: &[u8]) -> StateResult {
        let client = match self.client() {
            Ok(c) => c,
            Err(d) => return StateResult::error(d),
        };
        let mut new = UpgradeState::from_value(state);
        let mut diags = Diagnostics::default();
        if moved::has_no_job(&new)
            && !moved::adopt(&self.state, client, ctx, &mut new, &mut diags).await
        {
            return StateResult {
                state: Some(new.to_value()),
                private: private.to_vec(),
                diagnostics: diags,
            };
        }
        if new.engine == Field::Null {
            // Imported: describe the instance once.
            let call = CallCtx::new(ctx.cancel.clone());
            if let Ok(Some(instance)) = client.instance(&call, new.instance_id()).await {
                new.engine = instance.datastore.engine.into();
                new.instance_type = instance.instance_type.into();
            }
        }
        let finished_before = new.is_finished();
        if let Err(d) = outcome::refresh(ctx, client, &mut new).await {
            diags.push(d);
        }
        if !finished_before && let Some(warning) = outcome::installed_differs(&new, None) {
            diags.push(warning);
        }
        StateResult {
            state: Some(new.to_value()),
            private: private.to_vec(),
            diagnostics: diags,
        }
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        _config: &Value,
        _private: &[u8],
    ) -> StateResult {
        let (client, tracker) = match self.client_and_tracker() {
            Ok(both) => both,
            Err(d) => return StateResult::error(d),
        };
        let plan = UpgradeState::from_value(planned);
        if !plan.status.is_unknown() {
            // Nothing to resume: only arguments that call no API changed.
            return StateResult::ok(planned.clone());
        }
        let mut state = plan.clone();
        state.track_as(&UpgradeState::from_value(prior));
        let mut diags = Diagnostics::default();
        if let Err(d) = outcome::refresh(ctx, client, &mut state).await {
            diags.push(d);
            delayed::keep_planned(&plan, &mut state);
            return StateResult {
                state: Some(state.to_value()),
                private: Vec::new(),
                diagnostics: diags,
            };
        }
        let status = state.status.known().cloned();
        let limit = timeouts::get(planned, "update");
        let waits = state.waits();
        let too_late = (waits && status == Some(JobStatus::Scheduled))
            .then(|| {
                delayed::beyond_the_wait(
                    state.instance_id(),
                    state.job_id(),
                    state.scheduled_start.as_deref(),
                    limit,
                )
            })
            .flatten();
        delayed::keep_planned(&plan, &mut state);
        if let Some(warning) = too_late {
            diags.push(warning);
        } else if status.as_ref().is_some_and(JobStatus::is_under_way) && waits {
            tracing::info!(
                job_id = state.job_id(),
                "resuming the wait for the upgrade job"
            );
            let slot = (status == Some(JobStatus::Running))
                .then(|| self.state.gate.occupy(state.instance_id()));
            diags.extend(
                outcome::wait_and_record(ctx, client, tracker, &mut state, limit, slot).await,
            );
            if let Some(warning) = outcome::installed_differs(&state, None) {
                diags.push(warning);
            }
        }
        StateResult {
            state: Some(state.to_value()),
            private: Vec::new(),
            diagnostics: diags,
        }
    }

    async fn delete(&self, _ctx: &Ctx, prior: &Value) -> Diagnostics {
        Diagnostics::from(delayed::forgotten(&UpgradeState::from_value(prior)))
    }

    async fn import(&self, ctx: &Ctx, id: &str) -> StateResult {
        let client = match self.client() {
            Ok(c) => c,
            Err(d) => return StateResult::error(d),
        };
        match import::imported(client, ctx, id).await {
            Ok(state) => StateResult::ok(state.to_value()),
            Err(d) => StateResult::error(Diagnostics::from(d)),
        }
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(upgrade_identity::schema())
    }

    fn identity(&self, state: &Value) -> Option<Value> {
        upgrade_identity::of_state(state)
    }

    async fn import_by_identity(&self, ctx: &Ctx, identity: &Value) -> StateResult {
        match upgrade_identity::import_id(identity) {
            Ok(id) => self.import(ctx, &id).await,
            Err(d) => StateResult::error(d),
        }
    }

    fn move_state(&self, source: &MoveSource) -> Result<MovedState, Diagnostics> {
        moved::move_state(source)
    }
}

// ---- Helpers, in the order the resource's operations above use them ----

impl DbMinorUpgrade {
    fn client(&self) -> Result<&RdsClient, Diagnostics> {
        self.state.client()
    }

    /// The client and the job tracker, which create and update both need.
    fn client_and_tracker(&self) -> Result<(&RdsClient, &JobTracker), Diagnostics> {
        Ok((self.state.client()?, self.state.tracker()?))
    }

    /// The plan, on the model of `plan.planned`: `wait_for_completion`'s default, then an
    /// existing upgrade by its status ([`Self::plan_existing`]), or a new one checked
    /// against the instance when its id is known, with the versions and window it shows.
    async fn plan(&self, ctx: &Ctx, plan: &mut Plan, planned: &mut UpgradeState) -> Diagnostics {
        let mut diags = Diagnostics::default();
        if matches!(planned.wait_for_completion, Field::Null | Field::Unknown)
            && let Field::Known(delayed) = planned.is_delayed
        {
            planned.wait_for_completion = Field::Known(!delayed);
        }
        if let Some(prior) = &plan.prior {
            let prior = UpgradeState::from_value(prior);
            if Self::plan_existing(&prior, planned) {
                plan.requires_replace
                    .push(AttributePath::attribute(attr::STATUS));
            }
            if let Some(warning) = delayed::replacing_scheduled(&prior, planned) {
                diags.push(warning);
            }
            return diags;
        }
        // A new upgrade: check it against the instance when the id is known.
        let Some(instance_id) = upgrade_args::checkable_instance_id(&plan.config) else {
            return diags;
        };
        let client = match self.client() {
            Ok(c) => c,
            Err(d) => return d,
        };
        let call = CallCtx::new(ctx.cancel.clone());
        let facts = match self
            .state
            .catalog
            .checked_facts(client, &call, &instance_id)
            .await
        {
            Ok(f) => f,
            Err(e) => {
                diags.push(findings::facts_diagnostic(&instance_id, &e));
                return diags;
            }
        };
        let checked =
            plan_checks::diagnostics(&self.state.catalog, client, &call, facts, &plan.config).await;
        diags.extend(checked.diags);
        let (facts, under_way) = (checked.facts, checked.under_way);
        diags.extend(dr_relation::plan_warning(&self.state.catalog, client, &call, &facts).await);
        planned.engine = facts.engine.as_str().into();
        planned.instance_type = facts.instance_type.as_str().into();
        // The target is known, an upgrade under way included; so is the version it starts
        // from, unless an upgrade is under way (see plan_carry).
        let carried = Carried::from_private(&plan.first_plan_private);
        let (now, unknown) = upgrade_target::planned(&facts);
        if let Some(warning) = unknown {
            diags.push(warning);
        }
        planned.version_before = plan_carry::version_before(&facts, under_way, carried.as_ref());
        planned.target_version = plan_carry::target_version(&facts, now, carried.as_ref()).into();
        plan.planned_private = plan_carry::carry(&planned.version_before, &planned.target_version);
        delayed::plan_create(planned, facts.maintenance_window.as_deref());
        diags
    }

    /// The plan of an existing upgrade by its recorded status: a failed job is replaced
    /// (a new attempt: true), one under way that the apply waits for is tracked again
    /// (its tracking attributes unknown), a completed one keeps its outcome.
    fn plan_existing(prior: &UpgradeState, planned: &mut UpgradeState) -> bool {
        match prior.status.known() {
            Some(JobStatus::Failed) => {
                planned.status = Field::Unknown;
                return true;
            }
            Some(status) if status.is_under_way() && planned.waits() => planned.track_later(),
            Some(JobStatus::Completed) => planned.track_as(prior),
            _ => {}
        }
        false
    }
}

fn api_error(summary: &str, who: &str, e: &RdsError) -> Diagnostic {
    project_lookup::or_diagnostic(e, || Diagnostic::error(summary, format!("{who}: {e}")))
}
