//! The provider driven in process, without Terraform or a plugin process: a
//! [`HwrdsProvider`] configured for an emulator process through the [`Provider`] trait,
//! and the `hwrds_db_minor_upgrade` resource's plan, create, read and import called
//! directly with cty values. What the protocol layer does around a plan of a new
//! resource (defaults, computed attributes unknown) is done here from the schema, as the
//! layer does it, so that the resource sees what it would see under Terraform (top-level
//! attributes only: the resource's one nested block, `timeouts`, has neither defaults
//! nor computed attributes); and a create's new state is held to what Terraform holds it
//! to: wholly known, keeping every value the plan knew.
//!
//! For fast tables of the resource's rules; tests through real Terraform prove the
//! wiring (tests/upgrade_resource.rs and others).

use std::sync::Arc;

use hwrds::cty::{AttributePath, Value};
use hwrds::provider::HwrdsProvider;
use hwrds::schema::Block;
use hwrds::tfplugin::{Ctx, Diagnostic, Diagnostics, Plan, Provider, Resource, Severity};
use tokio_util::sync::CancellationToken;

use super::{ACCESS_KEY, Emulator, SECRET_KEY};

/// The resource type under test.
pub const RESOURCE: &str = "hwrds_db_minor_upgrade";

/// A configured provider and its `hwrds_db_minor_upgrade` resource.
pub struct InProcess {
    pub provider: HwrdsProvider,
    pub resource: Arc<dyn Resource>,
    ctx: Ctx,
}

/// What a plan of the resource gave: the planned state, its private data (what
/// Terraform 1.16+ hands back to the final plan), replacement paths and diagnostics.
#[derive(Debug)]
pub struct Planned {
    pub planned: Value,
    pub private: Vec<u8>,
    pub requires_replace: Vec<AttributePath>,
    pub diagnostics: Diagnostics,
}

impl InProcess {
    /// A provider configured for `emu` as a user would configure it (endpoint, region,
    /// credentials), not pacing an emulator that meters nothing, plus the provider
    /// arguments `extra`. Panics with the diagnostics when the configuration fails.
    pub async fn configured(emu: &Emulator, extra: &[(&str, Value)]) -> InProcess {
        let provider = HwrdsProvider::new();
        let mut config = Value::null_object(&provider.schema().block.value_type());
        for (name, value) in [
            ("endpoint", emu.url.as_str()),
            ("region", "ap-southeast-1"),
            ("access_key", ACCESS_KEY),
            ("secret_key", SECRET_KEY),
        ] {
            config.set_attr(name, Value::string(value));
        }
        if !emu.flow_control_enabled() {
            config.set_attr("api_quota_per_minute", Value::int(1_000_000));
        }
        for (name, value) in extra {
            config.set_attr(name, value.clone());
        }
        let ctx = Ctx {
            cancel: CancellationToken::new(),
        };
        let diagnostics = provider.configure(&ctx, &config, "1.16.0").await;
        assert!(
            !diagnostics.has_errors(),
            "the provider is configured: {diagnostics:?}"
        );
        let resource = provider
            .resources()
            .into_iter()
            .find(|r| r.type_name() == RESOURCE)
            .unwrap_or_else(|| panic!("the provider offers {RESOURCE}"));
        InProcess {
            provider,
            resource,
            ctx,
        }
    }

    /// The resource's schema block.
    pub fn block(&self) -> Block {
        self.resource.schema().block
    }

    /// `resource "hwrds_db_minor_upgrade" { instance_id = …, <extra> }`: every other
    /// argument null.
    pub fn config(&self, instance_id: &str, extra: &[(&str, Value)]) -> Value {
        let mut config = Value::null_object(&self.block().value_type());
        config.set_attr("instance_id", Value::string(instance_id));
        for (name, value) in extra {
            config.set_attr(name, value.clone());
        }
        config
    }

    /// A `timeouts { <operation> = <duration> }` block value.
    pub fn timeouts(&self, operation: &str, duration: &str) -> Value {
        let block = self.block();
        let nested = block
            .blocks
            .iter()
            .find(|b| b.name == "timeouts")
            .expect("the resource has a timeouts block");
        let mut value = Value::null_object(&nested.block.value_type());
        value.set_attr(operation, Value::string(duration));
        value
    }

    /// ValidateResourceConfig.
    pub async fn validate(&self, config: &Value) -> Diagnostics {
        self.resource.validate_config(config).await
    }

    /// The plan of creating the resource with `config` (`first_plan_private`: empty in
    /// a first plan, the first plan's private data in the final plan of Terraform 1.16+).
    pub async fn plan_create(&self, config: &Value, first_plan_private: Vec<u8>) -> Planned {
        let mut planned = config.clone();
        for attr in &self.block().attributes {
            let configured = config.get_attr(&attr.name).is_some_and(|v| !v.is_null());
            match &attr.default {
                Some(default) if !configured => planned.set_attr(&attr.name, default.clone()),
                None if !configured && attr.is_computed() => {
                    planned.set_attr(&attr.name, Value::Unknown)
                }
                _ => {}
            }
        }
        self.plan(config, None, planned, first_plan_private).await
    }

    /// The plan of an existing resource whose state is `prior`, its configuration
    /// unchanged (the proposed new state is the prior state).
    pub async fn plan_existing(&self, config: &Value, prior: &Value) -> Planned {
        self.plan(config, Some(prior.clone()), prior.clone(), Vec::new())
            .await
    }

    async fn plan(
        &self,
        config: &Value,
        prior: Option<Value>,
        planned: Value,
        first_plan_private: Vec<u8>,
    ) -> Planned {
        let mut plan = Plan {
            config: config.clone(),
            prior,
            planned,
            requires_replace: Vec::new(),
            prior_private: Vec::new(),
            planned_private: Vec::new(),
            first_plan_private,
        };
        let diagnostics = self.resource.modify_plan(&self.ctx, &mut plan).await;
        Planned {
            planned: plan.planned,
            private: plan.planned_private,
            requires_replace: plan.requires_replace,
            diagnostics,
        }
    }

    /// ApplyResourceChange of a create as `plan` planned it. Panics when the new state is
    /// not wholly known or changes a value the plan knew.
    pub async fn create(&self, config: &Value, plan: &Planned) -> Applied {
        let result = self
            .resource
            .create(&self.ctx, &plan.planned, config, &plan.private)
            .await;
        if let Some(state) = &result.state {
            assert!(state.is_wholly_known(), "unknown values in {state:?}");
            for attr in self.block().attributes {
                let planned = plan.planned.get_attr(&attr.name);
                if planned.is_some_and(|v| !v.is_unknown()) {
                    assert_eq!(
                        state.get_attr(&attr.name),
                        planned,
                        "the new state keeps the planned {}",
                        attr.name
                    );
                }
            }
        }
        Applied {
            state: result.state,
            diagnostics: result.diagnostics,
        }
    }

    /// ReadResource of `state`.
    pub async fn read(&self, state: &Value) -> Applied {
        let result = self.resource.read(&self.ctx, state, &[]).await;
        Applied {
            state: result.state,
            diagnostics: result.diagnostics,
        }
    }

    /// ApplyResourceChange of a destroy of `prior`.
    pub async fn delete(&self, prior: &Value) -> Diagnostics {
        self.resource.delete(&self.ctx, prior).await
    }

    /// ImportResourceState by id.
    pub async fn import(&self, id: &str) -> Applied {
        let result = self.resource.import(&self.ctx, id).await;
        Applied {
            state: result.state,
            diagnostics: result.diagnostics,
        }
    }
}

/// The outcome of a create, read or import: the new state, if any, and diagnostics.
#[derive(Debug)]
pub struct Applied {
    pub state: Option<Value>,
    pub diagnostics: Diagnostics,
}

impl Applied {
    /// The new state of an operation that had to succeed; panics with `what` and the
    /// diagnostics otherwise.
    #[track_caller]
    pub fn ok(&self, what: &str) -> &Value {
        assert!(
            !self.diagnostics.has_errors(),
            "{what}: {:?}",
            self.diagnostics
        );
        self.state
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no state"))
    }
}

/// The one diagnostic of `severity` whose summary is `summary`; panics, naming `case`,
/// when there is none or more than one.
#[track_caller]
pub fn the_diagnostic<'a>(
    diagnostics: &'a Diagnostics,
    severity: Severity,
    summary: &str,
    case: &str,
) -> &'a Diagnostic {
    let found: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.severity == severity && d.summary == summary)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{case}: one {severity:?} {summary:?} in {diagnostics:?}"
    );
    found[0]
}

/// The path of a top-level attribute, as diagnostics carry it.
pub fn at(name: &str) -> Option<AttributePath> {
    Some(AttributePath::attribute(name))
}

/// The errors among `diagnostics`.
pub fn errors(diagnostics: &Diagnostics) -> Vec<&Diagnostic> {
    diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}
