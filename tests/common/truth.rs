//! What the emulator itself says about instances and their upgrades, read through the
//! signed API with the crate's own client (as a user's script would): the task-center
//! entries, the operations waiting for a maintenance window, and the instance's version.
//! Tests compare Terraform's state with this.

use hwrds::rds::models::{ScheduledTask, Task};
use hwrds::rds::{CallCtx, TaskFilter};
use tokio_util::sync::CancellationToken;

use super::client::EmulatorClient;

/// One instance as the emulator reports it.
#[derive(Debug, Clone)]
pub struct InstanceTruth {
    pub id: String,
    /// Instance status (`ACTIVE`, `MODIFYING`, …).
    pub status: String,
    /// The complete version it runs.
    pub version: String,
    /// Its task-center entries, newest first.
    pub tasks: Vec<Task>,
    /// Its operations waiting for the maintenance window.
    pub scheduled: Vec<ScheduledTask>,
}

/// Reads `ids` from the emulator at `url`.
pub fn read(url: &str, ids: &[String]) -> Result<Vec<InstanceTruth>, String> {
    let client = EmulatorClient::new(url).build()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let ctx = CallCtx::new(CancellationToken::new());
        let mut out = Vec::new();
        for id in ids {
            let filter = TaskFilter {
                instance_id: Some(id.clone()),
                ..Default::default()
            };
            let tasks = client
                .tasks(&ctx, &filter)
                .await
                .map_err(|e| format!("{id}: task center: {e}"))?;
            let scheduled = client
                .scheduled_tasks(&ctx, Some(id))
                .await
                .map_err(|e| format!("{id}: scheduled tasks: {e}"))?;
            let instance = client
                .instance(&ctx, id)
                .await
                .map_err(|e| format!("{id}: instance: {e}"))?
                .ok_or_else(|| format!("{id}: no such instance"))?;
            out.push(InstanceTruth {
                id: id.clone(),
                status: instance.status,
                version: instance.datastore.complete_version.unwrap_or_default(),
                tasks,
                scheduled,
            });
        }
        Ok(out)
    })
}
