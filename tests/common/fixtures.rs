//! The emulator's default instances as the tests name them, the configuration that
//! upgrades one, and Terraform's output made searchable.

/// MySQL (`orders`).
pub const ORDERS: &str = "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5din01";
/// MySQL (`payments`), the primary of [`REPLICA`].
pub const PAYMENTS: &str = "b2c3d4e5f6a74b8c9d0e1f2a3b4c5d6ein01";
/// PostgreSQL (`analytics`).
pub const ANALYTICS: &str = "c3d4e5f6a7b84c9d0e1f2a3b4c5d6e7fin03";
/// The read replica of [`PAYMENTS`] (`payments-replica`).
pub const REPLICA: &str = "d4e5f6a7b8c94d0e1f2a3b4c5d6e7f8ain01";
/// SQL Server (`reporting`).
pub const REPORTING: &str = "e5f6a7b8c9d04e1f2a3b4c5d6e7f8a9bin04";

/// `resource "hwrds_db_minor_upgrade" "<name>"` of `instance_id`, with `extra` lines
/// (each ending in a newline) in its body.
pub fn upgrade(name: &str, instance_id: &str, extra: &str) -> String {
    format!(
        "resource \"hwrds_db_minor_upgrade\" \"{name}\" {{\n  instance_id = \"{instance_id}\"\n{extra}}}\n"
    )
}

/// `resource "hwrds_db_minor_upgrade" "fleet"` over `ids` (`for_each`), with `extra`
/// lines (each ending in a newline) in its body.
pub fn fleet(ids: &[String], extra: &str) -> String {
    let list = ids
        .iter()
        .map(|id| format!("\"{id}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "resource \"hwrds_db_minor_upgrade\" \"fleet\" {{\n  for_each    = toset([{list}])\n  instance_id = each.key\n{extra}}}\n"
    )
}

/// Output with Terraform's line wrapping undone, to search for messages.
pub fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The instance listing's route, as the emulator's stats name it.
pub const LIST_INSTANCES: &str = "GET /v3/{project_id}/instances";
/// The upgrade submission's route, as the emulator's stats name it.
pub const POST_UPGRADE: &str = "POST /v3/{project_id}/instances/{instance_id}/db-upgrade";
