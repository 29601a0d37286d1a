//! The hwrds provider: its configuration and the resources and data sources it offers.
//! The only layer where Terraform semantics and the RDS client meet.

pub mod checks;
pub mod config;

use std::sync::{Arc, OnceLock};

use crate::cty::Value;
use crate::schema::Schema;
use crate::tfplugin::{Ctx, DataSource, Diagnostics, Provider, Resource};

/// The `hwrds` provider.
#[derive(Default)]
pub struct HwrdsProvider {
    config: OnceLock<config::ProviderConfig>,
}

impl HwrdsProvider {
    pub fn new() -> Self {
        Self::default()
    }

    /// The configuration, once Terraform has configured the provider.
    pub fn config(&self) -> Option<&config::ProviderConfig> {
        self.config.get()
    }
}

#[async_trait::async_trait]
impl Provider for HwrdsProvider {
    fn schema(&self) -> Schema {
        config::schema()
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        Vec::new()
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        Vec::new()
    }

    async fn validate_config(&self, config: &Value) -> Diagnostics {
        config::validate(config)
    }

    async fn configure(&self, _ctx: &Ctx, config: &Value, _terraform_version: &str) -> Diagnostics {
        let env = |name: &str| std::env::var(name).ok();
        match config::resolve(config, &env) {
            Ok((resolved, diags)) => {
                tracing::debug!(region = ?resolved.region, endpoint = ?resolved.endpoint, "provider configured");
                let _ = self.config.set(resolved);
                diags
            }
            Err(diags) => diags,
        }
    }
}
