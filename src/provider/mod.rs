//! The hwrds provider: its configuration and the resources and data sources it offers.
//! The only layer where Terraform semantics meet the RDS client and the upgrade domain
//! ([`crate::upgrade`]): schemas, plans, state and diagnostics.

pub mod config;
mod credentials;
mod db_minor_upgrade;
mod dr_relation;
mod findings;
mod instance_data;
mod instances_data;
mod named;
mod not_submitted;
mod on_blocked;
mod plan_checks;
mod project_lookup;
mod timeouts;
mod upgrade_action;
mod upgrade_args;
mod upgrade_identity;
mod upgrade_list;
mod upgrade_target;
mod wait_outcome;

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::cty::Value;
use crate::rds::{ClientConfig, RdsClient};
use crate::schema::Schema;
use crate::tfplugin::{
    Action, Ctx, DataSource, Diagnostic, Diagnostics, ListResource, Provider, Resource,
};
use crate::upgrade::run::Upgrades;
use crate::upgrade::tracking::JobTracker;
use crate::upgrade::{catalog, fleet_gate};

/// What resources and data sources share once Terraform has configured the provider.
#[derive(Default)]
pub struct ProviderState {
    /// What an upgrade run needs: the client, the tracker, the catalog and the gate.
    upgrades: OnceLock<Upgrades>,
    /// Instances and versions, listed once per provider process.
    catalog: Arc<catalog::Catalog>,
    /// The cap on running upgrades and the failure budget of this process.
    gate: fleet_gate::FleetGate,
}

impl ProviderState {
    /// The RDS client, or a diagnostic when the provider is not configured.
    pub fn client(&self) -> Result<&RdsClient, Diagnostics> {
        Ok(&self.upgrades()?.client)
    }

    /// What an upgrade run needs, or a diagnostic when the provider is not configured.
    pub fn upgrades(&self) -> Result<&Upgrades, Diagnostics> {
        self.upgrades.get().ok_or_else(not_configured)
    }
}

fn not_configured() -> Diagnostics {
    Diagnostics::from(Diagnostic::error(
        "Provider not configured",
        "The hwrds provider has no usable configuration; see the errors on the provider block.",
    ))
}

/// The `hwrds` provider.
#[derive(Default)]
pub struct HwrdsProvider {
    state: Arc<ProviderState>,
}

impl HwrdsProvider {
    pub fn new() -> Self {
        Self::default()
    }

    /// The configuration, once Terraform has configured the provider.
    pub fn config(&self) -> Option<&ClientConfig> {
        self.state.upgrades.get().map(|u| u.client.config())
    }
}

#[async_trait::async_trait]
impl Provider for HwrdsProvider {
    fn schema(&self) -> Schema {
        config::schema()
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(db_minor_upgrade::DbMinorUpgrade {
            provider: self.state.clone(),
        })]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![
            Arc::new(instance_data::InstanceDataSource {
                provider: self.state.clone(),
            }),
            Arc::new(instances_data::InstancesDataSource {
                provider: self.state.clone(),
            }),
        ]
    }

    fn actions(&self) -> Vec<Arc<dyn Action>> {
        vec![Arc::new(upgrade_action::UpgradeAction {
            provider: self.state.clone(),
        })]
    }

    fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
        vec![Arc::new(upgrade_list::UpgradeList {
            provider: self.state.clone(),
        })]
    }

    async fn validate_config(&self, config: &Value) -> Diagnostics {
        config::validate(config)
    }

    async fn configure(&self, _ctx: &Ctx, config: &Value, _terraform_version: &str) -> Diagnostics {
        let env = |name: &str| std::env::var(name).ok();
        // Every error and warning of the block at once, or a configuration to use.
        let (resolved, mut diags) = match config::resolve(config, &env) {
            Ok(ok) => ok,
            Err(diags) => return diags,
        };
        self.state.gate.set_limits(resolved.limits);
        let accept_newer_target = resolved.accept_newer_target;
        let client = resolved.client;
        let (region, endpoint) = (client.region.clone(), client.endpoint.clone());
        match RdsClient::new(client) {
            Ok(client) => {
                if let Err(diagnostic) = credentials::first(&client).await {
                    diags.push(diagnostic);
                    return diags;
                }
                // The tracker's loop ends with the state (its last handle): the state
                // holds no shutdown token, and each wait has its own cancellation.
                let tracker = JobTracker::with_catalog(
                    client.clone(),
                    self.state.catalog.clone(),
                    CancellationToken::new(),
                );
                let _ = self.state.upgrades.set(Upgrades {
                    catalog: self.state.catalog.clone(),
                    gate: self.state.gate.clone(),
                    client,
                    tracker,
                    accept_newer_target,
                });
            }
            Err(e) => diags.push(Diagnostic::error(
                "Cannot create the API client",
                e.to_string(),
            )),
        }
        tracing::debug!(
            region = region.as_deref().unwrap_or("(none)"),
            endpoint = endpoint.as_deref().unwrap_or("(the region's)"),
            "provider configured"
        );
        diags
    }
}
