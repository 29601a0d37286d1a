//! hwrds: a Terraform provider for Huawei Cloud RDS minor version upgrades.
//!
//! Layers, each depending only on the ones below it:
//! `plugin` (go-plugin host) → `tfplugin` (tfplugin6 server and trait layer) →
//! `provider` (schema and resource semantics) → `rds` (Huawei Cloud client).
//! `cty` is a self-contained value library; `emulator` is the RDS API emulator binary's code.

pub mod cty;
pub mod docs;
pub mod emulator;
pub mod logging;
pub mod plugin;
pub mod provider;
pub mod rds;
pub mod schema;
pub mod tfplugin;
