//! What the tables of `hwrds_db_minor_upgrade`'s rules share: an emulator with one
//! instance, the text of an attribute, the upgrade POSTs the emulator counted, an upgrade
//! started from the console, and the state of a recorded upgrade.

use serde_json::json;

use super::Emulator;
use super::fixtures::ORDERS;
use super::in_process::InProcess;
use hwrds::cty::Value;

/// An emulator with the one MySQL instance [`ORDERS`] (8.0.28, latest 8.0.32) and the
/// emulator-wide settings `settings`.
pub fn orders_only(settings: serde_json::Value) -> Emulator {
    let mut config = json!({"instances": [{"id": ORDERS, "name": "orders", "type": "Single",
                                          "maintenance_window": "18:00-19:00"}]});
    if let (Some(all), Some(extra)) = (config.as_object_mut(), settings.as_object()) {
        all.extend(extra.clone());
    }
    Emulator::start(config, false)
}

/// The text of attribute `name`, or a description of what it is instead.
pub fn text(value: &Value, name: &str) -> String {
    match value.get_attr(name) {
        Some(Value::String(s)) => s.clone(),
        other => format!("<{other:?}>"),
    }
}

/// Upgrade POSTs of every instance, as the emulator counted them.
pub fn all_posts(emu: &Emulator) -> serde_json::Value {
    emu.stats()["upgrade_posts"].clone()
}

/// Starts an upgrade of `instance_id` the way the console does; its job id.
pub async fn console_upgrade(emu: &Emulator, instance_id: &str) -> String {
    let (url, id) = (emu.url.clone(), instance_id.to_string());
    tokio::task::spawn_blocking(move || super::client::console_upgrade(&url, &id))
        .await
        .expect("join")
        .expect("an upgrade submitted from the console")
}

/// The state of an upgrade of [`ORDERS`] with `config` whose job `job-1` was last seen
/// with `status`.
pub fn recorded(tf: &InProcess, config: &Value, status: &str) -> Value {
    let mut state = config.clone();
    let progress = match status {
        "Completed" => "100%",
        "Running" => "40%",
        _ => "10%",
    };
    for (name, value) in [
        ("id", Value::string(format!("{ORDERS}/job-1"))),
        ("instance_name", Value::string("orders")),
        ("job_id", Value::string("job-1")),
        ("status", Value::string(status)),
        ("progress", Value::string(progress)),
        ("engine", Value::string("MySQL")),
        ("instance_type", Value::string("Single")),
        ("version_before", Value::string("8.0.28")),
        ("target_version", Value::string("8.0.32")),
        ("submitted_at", Value::string("2026-01-01T10:00:00Z")),
        ("is_delayed", Value::Bool(false)),
        ("second_switch", Value::Bool(true)),
    ] {
        state.set_attr(name, value);
    }
    for attr in tf.block().attributes {
        if state.get_attr(&attr.name).is_none_or(Value::is_unknown) {
            state.set_attr(&attr.name, Value::Null);
        }
    }
    state
}
