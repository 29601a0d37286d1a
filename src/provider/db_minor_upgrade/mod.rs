//! `hwrds_db_minor_upgrade`: the minor version upgrades of an RDS instance, one after
//! another in place — each checked in the plan, submitted exactly once on apply, tracked
//! to the end.
//!
//! The whole behaviour, in the order Terraform meets it:
//! - **Plan** (create): the instance is looked up (one shared listing per provider
//!   process) and the seed's constraints run as diagnostics at the attribute they are
//!   about; `engine`, `instance_type`, `version_before` and `target_version` (the
//!   version the upgrade installs; null with a warning when it cannot be told) are known
//!   in the plan (`version_before` not while an upgrade is under way: it may complete
//!   before the apply) and carried to the apply's final plan ([`plan_carry`]).
//!   Plan (existing): changed `triggers`, a `Failed` job or a `Skipped` upgrade plan the
//!   next upgrade **in place** (an update, checked and shown like a create, its job
//!   unknown); a job still running with `wait_for_completion` plans an update that
//!   resumes waiting; otherwise the record keeps its outcome. With
//!   `on_blocked = "skip"` an upgrade the instance's state blocks is planned `Skipped`
//!   with a warning instead of an error ([`super::on_blocked`]).
//! - **Update** that upgrades again: the create's upgrade run, the previous job never
//!   adopted as the new one; nothing submitted keeps the previous upgrade in the state
//!   with the error.
//! - **Create**: adopt an upgrade already under way, else submit once (busy retried
//!   until the create timeout, a lost answer resolved from the task center, never
//!   re-sent blindly; nothing sent when right before it the upgrade would install
//!   another version than `target_version`, unless the provider's
//!   `accept_newer_target`), then wait when asked; a completed job whose version is not
//!   the target warns. An instance already on its target with no upgrade of the last day
//!   to adopt gets nothing sent: it is recorded `UpToDate`, with no job (`job_id` null,
//!   `id` the instance id), final like `Completed`. An interrupted or timed-out wait returns the state with the job
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
//!   included, are [`crate::upgrade::run`]'s, shared with the action). Changing a
//!   resource whose job is scheduled warns at plan that applying will not run it now;
//!   a destroy says it will still run.
//!
//! - **Names**: `instance_name` is known in the plan and kept (a state of an earlier
//!   version gets it at its next refresh); every diagnostic's summary begins with it, or
//!   with the instance id when no name is known ([`super::named`]), so that Terraform
//!   does not fold different instances' warnings into one.
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
mod impact;
mod import;
pub(super) mod model;
mod moved;
mod outcome;
mod plan_carry;
mod schema;

use std::sync::Arc;

use self::model::{Field, UpgradeState, attr};
use self::plan_carry::Carried;
use super::ProviderState;
use super::dr_relation;
use super::findings;
use super::named::named;
use super::not_submitted;
use super::on_blocked;
use super::plan_checks;
use super::project_lookup;
use super::timeouts;
use super::upgrade_args;
use super::upgrade_identity;
use super::upgrade_target;
use crate::cty::{AttributePath, Value};
use crate::rds::{CallCtx, RdsClient, RdsError};
use crate::schema::Schema;
use crate::tfplugin::{
    Ctx, Diagnostic, Diagnostics, IdentitySchema, MoveSource, MovedState, Plan, Resource,
    StateResult,
};
use crate::upgrade::checks::Severity;
use crate::upgrade::job::JobStatus;
use crate::upgrade::run::Waiting;
use crate::upgrade::run::course::Asked;
use crate::upgrade::submission::Reviewed;
use crate::upgrade::submission::adopt_or_submit::NotSubmitted;
use crate::upgrade::tracking::UNATTENDED;

pub use self::schema::schema;

pub struct DbMinorUpgrade {
    pub(super) provider: Arc<ProviderState>,
}

/// What an upgrade run of the resource takes from its operation: the plan and the
/// configuration, the job of the upgrade it comes after (an in-place update's), and
/// which of the `timeouts` limits it.
struct Run<'a> {
    planned: &'a Value,
    config: &'a Value,
    previous_job: Option<&'a str>,
    timeout: &'static str,
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
        if let Some(d) = on_blocked::validate(config) {
            diags.push(d);
        }
        let config = UpgradeState::from_value(config);
        let invalid_id = config
            .instance_id
            .as_deref()
            .and_then(findings::validate_instance_id);
        let who = if invalid_id.is_some() {
            ""
        } else {
            config.instance_id()
        };
        if let Some(d) = invalid_id {
            diags.push(d);
        }
        if config.is_delayed.is(&true) && config.wait_for_completion.is(&true) {
            diags.push(Diagnostic::warning_at(
                AttributePath::attribute(attr::WAIT_FOR_COMPLETION),
                "The apply will wait for the maintenance window",
                "is_delayed = true runs the upgrade in the instance's maintenance window; with wait_for_completion = true the apply blocks until the window has come and the job has finished (or the create timeout).",
            ));
        }
        // No name yet (the instance is not read before the plan): its id names it.
        named(diags, who)
    }

    async fn modify_plan(&self, ctx: &Ctx, plan: &mut Plan) -> Diagnostics {
        let mut planned = UpgradeState::from_value(&plan.planned);
        let diags = self.plan(ctx, plan, &mut planned).await;
        plan.planned = planned.to_value();
        named(diags, planned.who())
    }

    async fn create(
        &self,
        ctx: &Ctx,
        planned: &Value,
        config: &Value,
        _private: &[u8],
    ) -> StateResult {
        let mut state = UpgradeState::from_value(planned);
        let mut result = self.create_state(ctx, &mut state, planned, config).await;
        result.diagnostics = named(result.diagnostics, state.who());
        result
    }

    async fn read(&self, ctx: &Ctx, state: &Value, private: &[u8]) -> StateResult {
        let mut new = UpgradeState::from_value(state);
        let mut result = self.read_state(ctx, &mut new, private).await;
        result.diagnostics = named(result.diagnostics, new.who());
        result
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        config: &Value,
        _private: &[u8],
    ) -> StateResult {
        let mut result = if UpgradeState::from_value(planned).job_id.is_unknown() {
            self.upgrade_again(ctx, prior, planned, config).await
        } else {
            self.update_state(ctx, prior, planned).await
        };
        let who = UpgradeState::from_value(planned);
        result.diagnostics = named(result.diagnostics, who.who());
        result
    }

    async fn delete(&self, _ctx: &Ctx, prior: &Value) -> Diagnostics {
        let prior = UpgradeState::from_value(prior);
        named(Diagnostics::from(delayed::forgotten(&prior)), prior.who())
    }

    async fn import(&self, ctx: &Ctx, id: &str) -> StateResult {
        let client = match self.client() {
            Ok(c) => c,
            Err(d) => return StateResult::error(d),
        };
        match import::imported(client, ctx, id).await {
            Ok(state) => StateResult::ok(state.to_value()),
            Err(d) => {
                let instance_id = id.split_once('/').map_or(id, |(instance, _)| instance);
                let who = if findings::validate_instance_id(instance_id).is_none() {
                    instance_id
                } else {
                    ""
                };
                StateResult::error(named(Diagnostics::from(d), who))
            }
        }
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(upgrade_identity::schema())
    }

    fn identity(&self, state: &Value) -> Option<Value> {
        upgrade_identity::of_state(state)
    }

    fn upgrade_identity(&self, version: i64, json: &[u8]) -> Result<Value, Diagnostics> {
        upgrade_identity::upgraded(version, json)
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

// ---- The operations' bodies, their diagnostics named by the callers above ----

impl DbMinorUpgrade {
    /// Create: the upgrade run, recorded in `state` (the plan's values).
    async fn create_state(
        &self,
        ctx: &Ctx,
        state: &mut UpgradeState,
        planned: &Value,
        config: &Value,
    ) -> StateResult {
        if state.status.is(&JobStatus::Skipped) {
            // The plan skipped it (on_blocked = "skip"): nothing to submit.
            return StateResult::ok(state.to_value());
        }
        let run = Run {
            planned,
            config,
            previous_job: None,
            timeout: "create",
        };
        match self.run_upgrade(ctx, state, run).await {
            Ok(diagnostics) => StateResult {
                state: Some(state.to_value()),
                private: Vec::new(),
                diagnostics,
            },
            Err(d) => StateResult::error(d),
        }
    }

    /// Update that upgrades again in place (a `triggers` change, a failed job's new
    /// attempt): the same upgrade run as a create, the resource's previous job never
    /// adopted as the new one. When nothing was submitted the prior state stays, with
    /// the error: the next plan proposes the upgrade again.
    async fn upgrade_again(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        config: &Value,
    ) -> StateResult {
        let previous = UpgradeState::from_value(prior);
        let mut state = UpgradeState::from_value(planned);
        let run = Run {
            planned,
            config,
            previous_job: previous.job_id.as_deref(),
            timeout: "update",
        };
        match self.run_upgrade(ctx, &mut state, run).await {
            Ok(diagnostics) => StateResult {
                state: Some(state.to_value()),
                private: Vec::new(),
                diagnostics,
            },
            Err(diagnostics) => StateResult {
                state: Some(prior.clone()),
                private: Vec::new(),
                diagnostics,
            },
        }
    }

    /// The upgrade run of a create or an in-place update, recorded in `state` (the
    /// plan's values); the diagnostics of an upgrade not submitted otherwise.
    async fn run_upgrade(
        &self,
        ctx: &Ctx,
        state: &mut UpgradeState,
        run: Run<'_>,
    ) -> Result<Diagnostics, Diagnostics> {
        let upgrades = self.provider.upgrades()?;
        let reviewed = Reviewed {
            version: state.version_before.known().map(String::as_str),
            target: state.target_version.known().map(String::as_str),
        };
        let upgrade = upgrade_args::upgrade(
            state.instance_id(),
            run.planned,
            run.config,
            reviewed,
            run.previous_job,
        );
        let waiting = Waiting {
            cancel: ctx.cancel.clone(),
            limit: timeouts::get(run.planned, run.timeout),
            cadence: UNATTENDED,
        };
        match upgrades.run(&upgrade, &waiting, &mut |_| {}).await {
            Ok(ran) => Ok(outcome::record_run(state, &ran, waiting.limit)),
            Err(NotSubmitted::Refused { findings, .. })
                if let Some(blockers) = plan_checks::skipped(&findings, run.config) =>
            {
                // Blocked since the plan, and on_blocked = "skip": recorded, not failed.
                state.skip();
                let errors: Vec<_> = findings
                    .into_iter()
                    .filter(|f| f.severity == Severity::Error)
                    .collect();
                Ok(Diagnostics::from(plan_checks::skip_warning(
                    &blockers, &errors,
                )))
            }
            Err(e) => Err(not_submitted::diagnostics(state.instance_id(), e)),
        }
    }

    /// Read: a moved state's job adopted, an imported one described, the name filled in
    /// a state of an earlier version, the job refreshed.
    async fn read_state(&self, ctx: &Ctx, new: &mut UpgradeState, private: &[u8]) -> StateResult {
        let client = match self.client() {
            Ok(c) => c,
            Err(d) => return StateResult::error(d),
        };
        let mut diags = Diagnostics::default();
        // A state of an earlier version (or moved, or imported): the shared listing names
        // the instance and tells the upgrade's impact.
        let listed = if new.instance_name == Field::Null || new.impact == Field::Null {
            let call = CallCtx::new(ctx.cancel.clone());
            let catalog = &self.provider.catalog;
            catalog
                .instance(client, &call, new.instance_id())
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        if let (Field::Null, Some(instance)) = (&new.instance_name, &listed) {
            new.set_name(&instance.name);
        }
        if moved::has_no_job(new)
            && !moved::adopt(&self.provider, client, ctx, new, &mut diags).await
        {
            return StateResult {
                state: Some(new.to_value()),
                private: private.to_vec(),
                diagnostics: diags,
            };
        }
        if new.engine == Field::Null {
            // Imported: describe the instance once (from the listing read above, if any).
            let described = match &listed {
                Some(instance) => Some(instance.clone()),
                None => {
                    let call = CallCtx::new(ctx.cancel.clone());
                    client
                        .instance(&call, new.instance_id())
                        .await
                        .ok()
                        .flatten()
                }
            };
            if let Some(instance) = described {
                new.engine = instance.datastore.engine.into();
                new.instance_type = instance.instance_type.into();
            }
        }
        if let (Field::Null, Some(instance)) = (&new.impact, &listed) {
            new.impact = impact::at_refresh(new, instance);
        }
        let finished_before = new.is_finished();
        if let Err(d) = outcome::refresh(ctx, client, new).await {
            diags.push(d);
        }
        if !finished_before && let Some(warning) = outcome::installed_differs(new, None) {
            diags.push(warning);
        }
        StateResult {
            state: Some(new.to_value()),
            private: private.to_vec(),
            diagnostics: diags,
        }
    }

    /// Update: resumes waiting for a job under way, or returns the plan.
    async fn update_state(&self, ctx: &Ctx, prior: &Value, planned: &Value) -> StateResult {
        let upgrades = match self.provider.upgrades() {
            Ok(upgrades) => upgrades,
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
        let refreshed = outcome::refresh(ctx, &upgrades.client, &mut state).await;
        let job = outcome::recorded_job(&state);
        delayed::keep_planned(&plan, &mut state);
        if let Err(d) = refreshed {
            diags.push(d);
        } else if job.status.is_under_way() && state.waits() {
            let asked = Asked {
                is_delayed: state.request().is_delayed,
                wait_for_completion: true,
            };
            let waiting = Waiting {
                cancel: ctx.cancel.clone(),
                limit: timeouts::get(planned, "update"),
                cadence: UNATTENDED,
            };
            let instance_id = state.instance_id().to_string();
            let name = state
                .instance_name
                .as_deref()
                .unwrap_or_default()
                .to_string();
            let tracked = upgrades
                .resume(&instance_id, &name, job, asked, &waiting, &mut |_| {})
                .await;
            diags.extend(outcome::record_tracked(&mut state, &tracked, waiting.limit));
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

    fn client(&self) -> Result<&RdsClient, Diagnostics> {
        self.provider.client()
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
            if let Some(warning) = delayed::changing_scheduled(&prior, planned) {
                diags.push(warning);
            }
            if !planned.upgrades_again(&prior) {
                Self::plan_existing(&prior, planned);
                return diags;
            }
            // Another upgrade of the same instance, in place: a new job, checked and
            // shown like a create's.
            planned.begin_again();
            if let Some(warning) = still_under_way(&prior) {
                diags.push(warning);
            }
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
            .provider
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
            plan_checks::diagnostics(&self.provider.catalog, client, &call, facts, &plan.config)
                .await;
        diags.extend(checked.diags);
        let carried = Carried::from_private(&plan.first_plan_private);
        let skipped = checked.skipped.is_some() || carried.as_ref().is_some_and(Carried::skipped);
        let (facts, under_way) = (checked.facts, checked.under_way);
        diags
            .extend(dr_relation::plan_warning(&self.provider.catalog, client, &call, &facts).await);
        planned.engine = facts.engine.as_str().into();
        planned.instance_type = facts.instance_type.as_str().into();
        planned.instance_name = plan_carry::instance_name(&facts, carried.as_ref());
        // The target is known, an upgrade under way included; so is the version it starts
        // from, unless an upgrade is under way (see plan_carry).
        let (now, unknown) = upgrade_target::planned(&facts);
        if let Some(warning) = unknown {
            diags.push(warning);
        }
        planned.version_before = plan_carry::version_before(&facts, under_way, carried.as_ref());
        planned.target_version = plan_carry::target_version(&facts, now, carried.as_ref()).into();
        delayed::plan_create(planned, facts.maintenance_window.as_deref());
        planned.impact = plan_carry::impact(planned, &facts, carried.as_ref());
        if skipped {
            planned.skip();
        }
        plan.planned_private = plan_carry::carry(planned);
        diags
    }

    /// The plan of an existing upgrade that is not upgraded again, by its recorded status:
    /// one under way that the apply waits for is tracked again (its tracking attributes
    /// unknown); a completed one, or one up to date with no job, keeps its outcome.
    fn plan_existing(prior: &UpgradeState, planned: &mut UpgradeState) {
        match prior.status.known() {
            Some(status) if status.is_under_way() && planned.waits() => planned.track_later(),
            Some(JobStatus::Completed | JobStatus::UpToDate) => planned.track_as(prior),
            _ => {}
        }
    }
}

/// The plan's warning when the upgrade planned again comes while the recorded one is
/// still under way: the instance refuses a second upgrade, so the apply adopts the one
/// under way, which installs the version it was submitted for.
fn still_under_way(prior: &UpgradeState) -> Option<Diagnostic> {
    // A scheduled one has its own warning (delayed::changing_scheduled).
    let status = prior
        .status
        .known()
        .filter(|s| s.is_under_way() && **s != JobStatus::Scheduled)?;
    Some(Diagnostic::warning_at(
        AttributePath::attribute(attr::TRIGGERS),
        "The previous upgrade is still under way",
        format!(
            "Upgrade job {} is {status}: the instance takes no second upgrade until it ends, so this apply adopts it instead of submitting another, and it installs the version it was submitted for{}. Apply again after it ended to upgrade to a newer version (change triggers again, or taint the resource).",
            prior.job_id(),
            prior
                .target_version
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default()
        ),
    ))
}

fn api_error(summary: &str, who: &str, e: &RdsError) -> Diagnostic {
    project_lookup::or_diagnostic(e, || Diagnostic::error(summary, format!("{who}: {e}")))
}
