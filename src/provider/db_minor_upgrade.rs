//! `hwrds_db_minor_upgrade`: one minor version upgrade of an RDS instance — checked in
//! the plan, submitted exactly once on apply, tracked to the end.
//!
//! The whole behaviour, in the order Terraform meets it:
//! - **Plan** (create): the instance is looked up (one shared listing per provider
//!   process) and the seed's constraints run as diagnostics at the attribute they are
//!   about; `engine`, `instance_type`, `version_before` and `target_version` (the
//!   version the upgrade installs; null with a warning when it cannot be told) are known
//!   in the plan (`version_before` not while an upgrade is under way: it may complete
//!   before the apply) and carried to the apply's final plan ([`upgrade_target`],
//!   [`plan_carry`]).
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
//!   same as an identity (`upgrade_identity`); a state `moved` from the official
//!   provider has no job until the first read adopts one (`moved_from_official`).
//! - **Delayed upgrades** ([`schedule`]): the plan shows the maintenance window, the state
//!   the scheduled start and end. A scheduled job cannot be cancelled or run early through
//!   the API, so a create that meets one while `is_delayed = false` adopts it with a
//!   warning saying it does not run now (the instance would refuse a second upgrade), and
//!   an apply never waits for a window that opens after its timeout: it returns at once
//!   with the job recorded as `Scheduled` (the rules after a submission, the slot
//!   included, are [`crate::upgrade::flow`]'s, shared with the action). Replacing a resource whose job is scheduled
//!   warns at plan that applying will not run it now; its destroy says it will still run.
//!
//! The file reads in that order: the schema, then the `Resource` operations (plan,
//! create, read, update, delete, import), then their helpers. The state they share is
//! [`UpgradeState`]; the checks, the submission and the job are the domain's
//! ([`crate::upgrade`]); the arguments and wait outcomes are shared with the action
//! ([`super::upgrade_args`], [`super::wait_outcome`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::ProviderState;
use super::dr_relation;
use super::findings;
use super::moved_from_official;
use super::plan_carry::{self, Carried};
use super::plan_checks;
use super::project_lookup;
use super::schedule;
use super::submission;
use super::timeouts;
use super::upgrade_args;
use super::upgrade_identity;
use super::upgrade_state::UpgradeState;
use super::upgrade_target::{self, TARGET_VERSION};
use super::wait_outcome::{self, Resume};
use crate::cty::{AttributePath, Type, Value};
use crate::rds::models::rfc3339;
use crate::rds::{CallCtx, RdsClient, RdsError};
use crate::schema::{Attribute, Block, Schema};
use crate::tfplugin::{
    Ctx, Diagnostic, Diagnostics, IdentitySchema, MoveSource, MovedState, Plan, Resource,
    StateResult,
};
use crate::upgrade::adopt_or_submit::Started;
use crate::upgrade::facts::compare_versions;
use crate::upgrade::fleet_gate::{Follow, Slot};
use crate::upgrade::flow;
use crate::upgrade::job::{self, Interrupted, JobSnapshot, JobStatus};
use crate::upgrade::submit_once::Submitted;
use crate::upgrade::target::Target;
use crate::upgrade::tracking::JobTracker;

pub struct DbMinorUpgrade {
    pub(super) state: Arc<ProviderState>,
}

/// A job that no API knows after this long (records expire after about a month) keeps
/// its last known state, unless the instance shows the upgrade finished.
const VISIBILITY_GRACE: Duration = Duration::from_secs(60);

/// How an import id is written, for its diagnostics.
const IMPORT_USAGE: &str = "Import an upgrade as <instance_id>/<job_id>, or <instance_id> to adopt the instance's most recent upgrade job.";

pub fn schema() -> Schema {
    let block = Block::new(
        "A minor version upgrade of a Huawei Cloud RDS instance (MySQL or PostgreSQL). Creating the resource submits the upgrade once and, by default, waits for the job to finish; the plan shows the version the instance runs and refuses upgrades the API would refuse. Destroying it only forgets the upgrade.",
    )
    .attribute(Attribute::computed("id", Type::String, "`<instance_id>/<job_id>`.").stable())
    .attribute(
        Attribute::required("instance_id", Type::String, upgrade_args::INSTANCE_ID)
            .requires_replace(),
    )
    .attribute(
        Attribute::optional("is_delayed", Type::Bool, upgrade_args::IS_DELAYED)
            .default(Value::Bool(false))
            .requires_replace(),
    )
    .attribute(
        Attribute::optional("second_switch", Type::Bool, upgrade_args::SECOND_SWITCH)
            .default(Value::Bool(true))
            .requires_replace(),
    )
    .attribute(
        Attribute::optional("triggers", Type::map(Type::String), "Arbitrary values; any change means \"upgrade again\" (e.g. `{ minor = data.hwrds_db_instance.x.latest_version }`).")
            .requires_replace(),
    )
    .attribute(Attribute::optional_computed(
        "wait_for_completion",
        Type::Bool,
        &format!(
            "{} Changing it never calls the upgrade API.",
            upgrade_args::WAIT_FOR_COMPLETION
        ),
    ))
    .attribute(Attribute::computed("job_id", Type::String, "Id of the upgrade job.").stable())
    .attribute(Attribute::computed("status", Type::String, "Job status: `Scheduled` (delayed, waiting for the maintenance window), `Running`, `Completed` or `Failed`."))
    .attribute(Attribute::computed("progress", Type::String, "Job progress as the API reports it, e.g. `60%`."))
    .attribute(Attribute::computed("fail_reason", Type::String, "Why the job failed, when it did."))
    .attribute(Attribute::computed("engine", Type::String, "Database engine of the instance.").stable())
    .attribute(Attribute::computed("instance_type", Type::String, "`Single`, `Ha` or `Replica`.").stable())
    .attribute(
        Attribute::computed("version_before", Type::String, "Complete version the instance ran when the upgrade was planned (known in the plan).")
            .stable(),
    )
    .attribute(
        Attribute::computed(TARGET_VERSION, Type::String, "Minor version the upgrade installs, known in the plan: the latest minor version of the instance's engine and major version, as the versions API names it (the `latest_version` of `hwrds_db_instance`), e.g. `8.0.32`; equal as a version to `version_before` when the instance already runs it. Null, with a warning saying why, when it cannot be told with confidence. Right before submitting, the apply checks it is still what the upgrade installs (see the provider's `accept_newer_target`). Null for an imported upgrade or one moved from the official provider.")
            .stable(),
    )
    .attribute(Attribute::computed("version_after", Type::String, "Complete version the instance runs after the job completed (the apply warns when it is not `target_version`)."))
    .attribute(Attribute::computed("submitted_at", Type::String, "When the job was created (RFC 3339).").stable())
    .attribute(Attribute::computed("finished_at", Type::String, "When the job finished (RFC 3339)."))
    .block(timeouts::block());
    let block = schedule::attributes()
        .into_iter()
        .fold(block, Block::attribute);
    Schema { version: 0, block }
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
        if let Some(d) = config
            .attr_string("instance_id")
            .as_deref()
            .and_then(findings::validate_instance_id)
        {
            diags.push(d);
        }
        if config.attr_bool("is_delayed") == Some(true)
            && config.attr_bool("wait_for_completion") == Some(true)
        {
            diags.push(Diagnostic::warning_at(
                AttributePath::attribute("wait_for_completion"),
                "The apply will wait for the maintenance window",
                "is_delayed = true runs the upgrade in the instance's maintenance window; with wait_for_completion = true the apply blocks until the window has come and the job has finished (or the create timeout).",
            ));
        }
        diags
    }

    async fn modify_plan(&self, ctx: &Ctx, plan: &mut Plan) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let wait_unset = plan
            .planned
            .get_attr("wait_for_completion")
            .is_none_or(|v| v.is_unknown() || v.is_null());
        if wait_unset && let Some(delayed) = plan.planned.attr_bool("is_delayed") {
            plan.planned
                .set_attr("wait_for_completion", Value::Bool(!delayed));
        }
        if let Some(prior) = plan.prior.clone() {
            self.plan_existing(&prior, plan);
            if let Some(warning) = schedule::replacing_scheduled(&prior, &plan.planned) {
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
        plan.planned
            .set_attr("engine", Value::string(&facts.engine));
        plan.planned
            .set_attr("instance_type", Value::string(&facts.instance_type));
        // The target is known, an upgrade under way included; so is the version it starts
        // from, unless an upgrade is under way (see plan_carry).
        let carried = Carried::from_private(&plan.first_plan_private);
        let before = plan_carry::version_before(&facts, under_way, carried.as_ref());
        let (target, unknown) = upgrade_target::planned(&facts, carried.as_ref());
        if let Some(warning) = unknown {
            diags.push(warning);
        }
        plan.planned_private = plan_carry::carry(&before, &target);
        plan.planned.set_attr("version_before", before);
        plan.planned.set_attr(TARGET_VERSION, target);
        schedule::plan_create(&mut plan.planned, facts.maintenance_window.as_deref());
        diags
    }

    async fn create(
        &self,
        ctx: &Ctx,
        planned: &Value,
        config: &Value,
        _private: &[u8],
    ) -> StateResult {
        let client = match self.client() {
            Ok(c) => c,
            Err(d) => return StateResult::error(d),
        };
        let tracker = match self.state.tracker() {
            Ok(t) => t,
            Err(d) => return StateResult::error(d),
        };
        let mut state = UpgradeState::from_value(planned);
        let instance_id = state.instance_id.clone();
        let limit = timeouts::get(planned, "create");
        let call = CallCtx::new(ctx.cancel.clone()).with_deadline(Instant::now() + limit);
        let request = upgrade_args::request(planned);
        let planned_target = planned.attr_string(TARGET_VERSION);
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
        state.engine = Some(facts.engine.clone());
        state.instance_type = Some(facts.instance_type.clone());
        if is_unknown(planned, "version_before") {
            state.version_before = facts.complete_version.clone();
        }
        if is_unknown(planned, TARGET_VERSION) {
            state.target_version = Target::of(&facts).version().map(str::to_string);
        }
        state.version_after = None;
        let mut diags = Diagnostics::default();
        if let (Some(reviewed), Some(now)) = (&planned_target, &newer_target) {
            diags.push(upgrade_target::newer_installed(&facts, reviewed, now));
        }
        let snap = flow::first_snapshot(&submitted, request.is_delayed);
        match &submitted {
            Submitted::New(_) => {
                state.submitted_at = Some(rfc3339(time::OffsetDateTime::now_utc()));
            }
            Submitted::Adopted(job) => {
                let at = job
                    .created
                    .clone()
                    .unwrap_or_else(|| rfc3339(time::OffsetDateTime::now_utc()));
                state.submitted_at = Some(at);
                if job.status == JobStatus::Scheduled && !request.is_delayed {
                    diags.push(schedule::adopted_while_immediate(&instance_id, job));
                } else {
                    diags.push(Diagnostic::warning_at(
                        AttributePath::attribute("instance_id"),
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
        schedule::record_at_create(
            planned,
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
            wait_for_completion: state.wait_for_completion == Some(true),
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
                self.finish(client, &call, &mut state, &snap).await;
                if let Some(slot) = slot {
                    slot.finished(&instance_id, &snap);
                }
            }
            flow::Next::TooLate { start } => diags.push(schedule::not_waiting(
                Resume::Apply,
                &instance_id,
                &job_id,
                &start,
                elapsed_limit,
            )),
            flow::Next::Wait => diags.extend(
                self.wait_and_record(ctx, client, tracker, &mut state, elapsed_limit, slot)
                    .await,
            ),
            flow::Next::Background => {
                if let Some(slot) = slot {
                    slot.follow_in_background(self.follow(ctx, tracker, &job_id, &instance_id));
                }
            }
        }
        if let Some(warning) = upgrade_target::installed_differs(&state, newer_target.as_deref()) {
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
        if moved_from_official::has_no_job(&new)
            && !moved_from_official::adopt(&self.state, client, ctx, &mut new, &mut diags).await
        {
            return StateResult {
                state: Some(new.to_value()),
                private: private.to_vec(),
                diagnostics: diags,
            };
        }
        if new.engine.is_none() {
            // Imported: describe the instance once.
            let call = CallCtx::new(ctx.cancel.clone());
            if let Ok(Some(instance)) = client.instance(&call, &new.instance_id).await {
                new.engine = Some(instance.datastore.engine);
                new.instance_type = Some(instance.instance_type);
            }
        }
        let finished_before = new.is_finished();
        if let Err(d) = self.refresh(ctx, client, &mut new).await {
            diags.push(d);
        }
        if !finished_before && let Some(warning) = upgrade_target::installed_differs(&new, None) {
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
        let client = match self.client() {
            Ok(c) => c,
            Err(d) => return StateResult::error(d),
        };
        let tracker = match self.state.tracker() {
            Ok(t) => t,
            Err(d) => return StateResult::error(d),
        };
        let resumes = is_unknown(planned, "status");
        if !resumes {
            return StateResult::ok(planned.clone());
        }
        let mut state = UpgradeState::from_value(planned);
        state.track_as(&UpgradeState::from_value(prior));
        let mut diags = Diagnostics::default();
        if let Err(d) = self.refresh(ctx, client, &mut state).await {
            diags.push(d);
            schedule::keep_planned(planned, &mut state);
            return StateResult {
                state: Some(state.to_value()),
                private: Vec::new(),
                diagnostics: diags,
            };
        }
        let status = state.status.clone();
        let limit = timeouts::get(planned, "update");
        let waits = state.wait_for_completion == Some(true);
        let too_late = (waits && status == Some(JobStatus::Scheduled))
            .then(|| {
                schedule::beyond_the_wait(
                    &state.instance_id,
                    state.job_id(),
                    state.scheduled_start.as_deref(),
                    limit,
                )
            })
            .flatten();
        schedule::keep_planned(planned, &mut state);
        if let Some(warning) = too_late {
            diags.push(warning);
        } else if status.as_ref().is_some_and(JobStatus::is_under_way) && waits {
            tracing::info!(
                job_id = state.job_id(),
                "resuming the wait for the upgrade job"
            );
            let slot = (status == Some(JobStatus::Running))
                .then(|| self.state.gate.occupy(&state.instance_id));
            diags.extend(
                self.wait_and_record(ctx, client, tracker, &mut state, limit, slot)
                    .await,
            );
            if let Some(warning) = upgrade_target::installed_differs(&state, None) {
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
        Diagnostics::from(schedule::forgotten(&UpgradeState::from_value(prior)))
    }

    async fn import(&self, ctx: &Ctx, id: &str) -> StateResult {
        let client = match self.client() {
            Ok(c) => c,
            Err(d) => return StateResult::error(d),
        };
        match imported(client, ctx, id).await {
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
        moved_from_official::move_state(source)
    }
}

// ---- Helpers, in the order the resource's operations above use them ----

impl DbMinorUpgrade {
    fn client(&self) -> Result<&RdsClient, Diagnostics> {
        self.state.client()
    }

    /// The plan of an existing upgrade by its recorded status: a failed job is replaced
    /// (a new attempt), one under way that the apply waits for is tracked again (its
    /// tracking attributes unknown), a completed one keeps its outcome.
    fn plan_existing(&self, prior: &Value, plan: &mut Plan) {
        let status = UpgradeState::from_value(prior).status;
        let waits = plan.planned.attr_bool("wait_for_completion") == Some(true);
        match status {
            Some(JobStatus::Failed) => {
                plan.planned.set_attr("status", Value::Unknown);
                plan.requires_replace
                    .push(AttributePath::attribute("status"));
            }
            Some(status) if status.is_under_way() && waits => {
                for name in UpgradeState::TRACKING {
                    plan.planned.set_attr(name, Value::Unknown);
                }
            }
            Some(JobStatus::Completed) => {
                for name in UpgradeState::TRACKING {
                    plan.planned
                        .set_attr(name, prior.get_attr(name).cloned().unwrap_or(Value::Null));
                }
            }
            _ => {}
        }
    }

    /// What a fleet-gate follower needs to follow this resource's job.
    fn follow<'a>(
        &self,
        ctx: &'a Ctx,
        tracker: &'a JobTracker,
        job_id: &'a str,
        instance_id: &'a str,
    ) -> Follow<'a> {
        Follow {
            tracker,
            cancel: &ctx.cancel,
            schedule: job::UNATTENDED,
            job_id,
            instance_id,
        }
    }

    /// Records a finished job, and on completion the instance's new version.
    async fn finish(
        &self,
        client: &RdsClient,
        call: &CallCtx,
        state: &mut UpgradeState,
        snap: &JobSnapshot,
    ) {
        if snap.status == JobStatus::Completed {
            // The tracker's shared instance listing usually has it; else ask this one.
            state.version_after = match &snap.version_after {
                Some(version) => Some(version.clone()),
                None => self.version_now(client, call, &state.instance_id).await,
            };
        }
        state.record(snap);
    }

    /// Reads the instance afresh (not from the cache) for the version after an upgrade:
    /// up to three rounds of the client's retries, as the upgrade itself is already done.
    async fn version_now(&self, client: &RdsClient, call: &CallCtx, id: &str) -> Option<String> {
        for round in 1..=3 {
            match client.instance(call, id).await {
                Ok(found) => return found.and_then(|i| i.datastore.complete_version),
                Err(e)
                    if round < 3
                        && !e.is_auth()
                        && !matches!(e, RdsError::Cancelled | RdsError::Timeout(_)) =>
                {
                    tracing::debug!(instance_id = id, error = %e, "reading the version after the upgrade failed; again");
                }
                Err(e) => {
                    tracing::warn!(instance_id = id, error = %e, "cannot read the version after the upgrade; the next refresh asks again");
                    return None;
                }
            }
        }
        None
    }

    /// Waits for the job recorded in `state` and records the outcome. Diagnostics say
    /// what happened when it did not complete.
    async fn wait_and_record(
        &self,
        ctx: &Ctx,
        client: &RdsClient,
        tracker: &JobTracker,
        state: &mut UpgradeState,
        limit: Duration,
        slot: Option<Slot>,
    ) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let job_id = state.job_id().to_string();
        let instance_id = state.instance_id.clone();
        let call = CallCtx::new(ctx.cancel.clone()).with_deadline(Instant::now() + limit);
        let follow = self.follow(ctx, tracker, &job_id, &instance_id);
        let waited = follow
            .wait(&call, slot, |snap| {
                tracing::info!(instance_id = %instance_id, job_id = %snap.id, status = %snap.status, progress = snap.progress.as_deref().unwrap_or(""), "upgrade in progress");
            })
            .await;
        match waited {
            Ok(snap) => {
                // The final read gets its own short context: the wait may have used it all.
                let after = CallCtx::new(ctx.cancel.clone())
                    .with_deadline(Instant::now() + Duration::from_secs(60));
                self.finish(client, &after, state, &snap).await;
                if snap.status == JobStatus::Failed {
                    diags.push(Diagnostic::error(
                        "Upgrade job failed",
                        format!(
                            "The upgrade job {job_id} of instance {instance_id} failed: {}. The instance keeps version {}. \
                             The next plan proposes a new attempt (a replacement of this resource).",
                            snap.fail_reason.as_deref().unwrap_or("no reason given").trim_end_matches('.'),
                            state.version_before.as_deref().unwrap_or("it had"),
                        ),
                    ));
                } else {
                    tracing::info!(instance_id = %instance_id, job_id = %job_id, version_after = state.version_after.as_deref().unwrap_or(""), "upgrade completed");
                }
            }
            Err(stopped) => {
                if let Interrupted::Cancelled(Some(last)) | Interrupted::Timeout(Some(last)) =
                    &stopped
                {
                    state.record(last);
                }
                let who = format!("instance {instance_id}");
                diags.push(wait_outcome::interrupted(
                    Resume::Apply,
                    &stopped,
                    limit,
                    &job_id,
                    &who,
                ));
            }
        }
        diags
    }

    /// Brings a state's tracking attributes up to date (no request for a finished job).
    async fn refresh(
        &self,
        ctx: &Ctx,
        client: &RdsClient,
        state: &mut UpgradeState,
    ) -> Result<(), Diagnostic> {
        if state.status == Some(JobStatus::Completed) && state.version_after.is_none() {
            // The read after completion failed earlier: ask once more, then it is final.
            let call = CallCtx::new(ctx.cancel.clone())
                .with_deadline(Instant::now() + Duration::from_secs(60));
            state.version_after = self.version_now(client, &call, &state.instance_id).await;
            return Ok(());
        }
        if state.is_finished() {
            return Ok(());
        }
        let job_id = state.job_id().to_string();
        let instance_id = state.instance_id.clone();
        let who = format!("job {job_id} of instance {instance_id}");
        let call = CallCtx::new(ctx.cancel.clone())
            .with_deadline(Instant::now() + Duration::from_secs(120));
        match job::snapshot(client, &call, &job_id, &instance_id).await {
            Ok(Some(snap)) => {
                schedule::record_at_refresh(state, &snap);
                if snap.is_finished() {
                    self.finish(client, &call, state, &snap).await;
                } else {
                    state.record(&snap);
                }
            }
            Ok(None) => self.infer_from_instance(client, &call, state).await,
            Err(e) => return Err(api_error("Cannot read the upgrade job", &who, &e)),
        }
        if state.status.is_none() {
            // Imported and unknown to every API: say so rather than invent a status.
            state.status = Some(JobStatus::Running);
        }
        Ok(())
    }

    /// No API knows the job: once it is old enough, an instance that is ACTIVE on a newer
    /// version than before shows the upgrade completed; otherwise the state stays.
    async fn infer_from_instance(
        &self,
        client: &RdsClient,
        call: &CallCtx,
        state: &mut UpgradeState,
    ) {
        let submitted = state.submitted_at.as_deref().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        });
        let old_enough = submitted.is_none_or(|t| {
            time::OffsetDateTime::now_utc() - t
                > time::Duration::try_from(VISIBILITY_GRACE).unwrap_or_default()
        });
        let (Some(before), true) = (state.version_before.clone(), old_enough) else {
            return;
        };
        let instance_id = state.instance_id.clone();
        let Ok(Some(instance)) = client.instance(call, &instance_id).await else {
            return;
        };
        let newer = instance
            .datastore
            .complete_version
            .as_deref()
            .is_some_and(|now| compare_versions(now, &before) == std::cmp::Ordering::Greater);
        if instance.status.eq_ignore_ascii_case("active") && newer {
            tracing::info!(
                instance_id,
                "the job is not listed any more; the instance runs a newer version: completed"
            );
            state.version_after = instance.datastore.complete_version;
            let snap = JobSnapshot {
                id: state.job_id().to_string(),
                status: JobStatus::Completed,
                ..Default::default()
            };
            state.record(&snap);
        }
    }
}

/// The state an import of `id` gives: `<instance_id>/<job_id>`, or `<instance_id>` for
/// the instance's most recent upgrade job.
async fn imported(client: &RdsClient, ctx: &Ctx, id: &str) -> Result<UpgradeState, Diagnostic> {
    let (instance_id, job_id) = match id.split_once('/') {
        Some((instance, job)) => (instance.to_string(), Some(job.to_string())),
        None => (id.to_string(), None),
    };
    let usage = IMPORT_USAGE;
    if let Some(d) = findings::validate_instance_id(&instance_id) {
        return Err(Diagnostic::error(
            "Invalid import id",
            format!("{} {usage}", d.detail),
        ));
    }
    if job_id
        .as_deref()
        .is_some_and(|j| j.trim().is_empty() || j.contains('/'))
    {
        return Err(Diagnostic::error(
            "Invalid import id",
            format!("{id:?} has no usable job id. {usage}"),
        ));
    }
    let call = CallCtx::new(ctx.cancel.clone());
    let instance = match client.instance(&call, &instance_id).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return Err(Diagnostic::error(
                "RDS instance not found",
                format!(
                    "No RDS instance has id {instance_id:?} in this project and region. {usage}"
                ),
            ));
        }
        Err(e) => return Err(api_error("Cannot read the RDS instance", &instance_id, &e)),
    };
    let (job_id, created) = match job_id {
        Some(j) => (j, None),
        None => match job::most_recent(client, &call, &instance_id).await {
            Ok(Some(job)) => (job.id, job.created),
            Ok(None) => {
                return Err(Diagnostic::error(
                    "No upgrade job to import",
                    format!(
                        "Instance {instance_id} has no minor upgrade job in the task center (records are kept about a month). {usage}"
                    ),
                ));
            }
            Err(e) => return Err(api_error("Cannot read the task center", &instance_id, &e)),
        },
    };
    let mut state = UpgradeState::new(&instance_id);
    state.set_job(&job_id);
    state.engine = Some(instance.datastore.engine);
    state.instance_type = Some(instance.instance_type);
    state.submitted_at = created;
    Ok(state)
}

fn is_unknown(value: &Value, name: &str) -> bool {
    value.get_attr(name).is_some_and(Value::is_unknown)
}

fn api_error(summary: &str, who: &str, e: &RdsError) -> Diagnostic {
    project_lookup::or_diagnostic(e, || Diagnostic::error(summary, format!("{who}: {e}")))
}
