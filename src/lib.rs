//! hwrds: a Terraform provider for Huawei Cloud RDS minor version upgrades.
//!
//! The modules and what each uses of the others (`use crate::…`; nothing else crosses):
//! - `cty` (Terraform's value and type system, with its msgpack and JSON forms) and `rds`
//!   (the Huawei Cloud client: signing, quotas, retries, the typed calls; knows nothing
//!   of Terraform) use no other module; `logging` neither.
//! - `schema` (provider, resource and data-source schemas) uses `cty`.
//! - `plugin` (the go-plugin host: handshake, AutoMTLS, serving) uses `logging`.
//! - `tfplugin` (the tfplugin6 server and the `Provider`/`Resource` traits) uses `cty`,
//!   `schema`, and `plugin` for the gRPC message limit.
//! - `upgrade` (the upgrade domain: instance facts, the seed's checks, adopt or submit
//!   once, the fleet gate, job tracking; knows nothing of Terraform) uses `rds`.
//! - `provider` (the hwrds provider, resources, data sources and action) uses `cty`,
//!   `schema`, `tfplugin`, `rds` and `upgrade`: the one module where Terraform meets the
//!   RDS client and the domain.
//! - `docs` (registry docs from the schemas) uses `cty`, `schema` and `tfplugin`.
//! - `emulator` (the RDS API emulator binary's code) uses `rds` for its signature check.
//! - `summary` (the pull-request summary of a saved plan: reads Terraform's JSON, not the
//!   provider's internals) uses `upgrade` to compare versions.
//!
//! The binaries join them: `terraform-provider-hwrds` serves `provider` through `plugin`
//! and `tfplugin`, or runs `summary` as its subcommand; `hwrds-emulator` runs `emulator`.

pub mod cty;
pub mod docs;
pub mod emulator;
pub mod logging;
pub mod plugin;
pub mod provider;
pub mod rds;
pub mod schema;
pub mod summary;
pub mod tfplugin;
pub mod upgrade;
