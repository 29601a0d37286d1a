//! The reviewed `target_version` carried from the plan to the apply as Terraform 1.16+
//! does it (no such Terraform can be installed here: the newest available is 1.15.5):
//! this build's provider binary is driven over gRPC with the calls Terraform makes — a
//! plan in one provider process, then in another the final plan, which gets the first
//! plan's `planned_private` back, and the apply — against the emulator process. A minor
//! version released in between keeps the reviewed target in the final plan, so the apply
//! reaches the provider's own check and fails at `instance_id`, submitting nothing;
//! without the private data (Terraform 1.15 and older) the final plan shows the new
//! target, which Terraform itself refuses (see tests/target_version.rs). The same carry
//! keeps `version_before` when an upgrade the plan could not see yet is under way by the
//! final plan.

pub mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::fixtures::ORDERS;
use common::{ACCESS_KEY, Emulator, SECRET_KEY};
use hwrds::cty::{Type, Value, msgpack};
use hwrds::plugin::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use hwrds::provider::HwrdsProvider;
use hwrds::tfplugin::Provider;
use hwrds::tfplugin::client as tf;
use serde_json::json;
use tonic::transport::{Channel, Endpoint};

/// One provider process, as Terraform starts one per plan and per apply.
struct Plugin {
    child: Child,
    client: tf::provider_client::ProviderClient<Channel>,
    _dir: tempfile::TempDir,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider_type() -> Type {
    HwrdsProvider::new().schema().block.value_type()
}

fn resource_type() -> Type {
    HwrdsProvider::new().resources()[0]
        .schema()
        .block
        .value_type()
}

fn dynamic(value: &Value, ty: &Type) -> Option<tf::DynamicValue> {
    Some(tf::DynamicValue {
        msgpack: msgpack::encode(value, ty).expect("encode"),
        json: Vec::new(),
    })
}

fn decode(value: Option<tf::DynamicValue>, ty: &Type) -> Value {
    msgpack::decode(&value.expect("a value").msgpack, ty).expect("decode")
}

/// Starts this build's provider (no AutoMTLS: plain gRPC on its socket) and configures it
/// for the emulator at `url`, as Terraform 1.16 would.
async fn configured(url: &str) -> Plugin {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_terraform-provider-hwrds"))
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("HWRDS_METADATA_ENDPOINT", common::NO_METADATA)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env("PLUGIN_UNIX_SOCKET_DIR", dir.path())
        .env_remove("PLUGIN_CLIENT_CERT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the provider");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("handshake line");
    let socket = PathBuf::from(line.split('|').nth(3).expect("socket path"));
    let channel = Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .expect("connect to the provider");
    let mut client = tf::provider_client::ProviderClient::new(channel);
    let mut config = Value::null_object(&provider_type());
    for (name, value) in [
        ("endpoint", url),
        ("region", "ap-southeast-1"),
        ("access_key", ACCESS_KEY),
        ("secret_key", SECRET_KEY),
        ("metadata_endpoint", common::NO_METADATA),
    ] {
        config.set_attr(name, Value::string(value));
    }
    config.set_attr("api_quota_per_minute", Value::int(1_000_000));
    let configured = client
        .configure_provider(tf::configure_provider::Request {
            terraform_version: "1.16.0".into(),
            config: dynamic(&config, &provider_type()),
            client_capabilities: Some(capabilities()),
        })
        .await
        .expect("ConfigureProvider")
        .into_inner();
    assert!(
        configured.diagnostics.is_empty(),
        "{:?}",
        configured.diagnostics
    );
    Plugin {
        child,
        client,
        _dir: dir,
    }
}

/// What Terraform 1.16 announces.
fn capabilities() -> tf::ClientCapabilities {
    tf::ClientCapabilities {
        write_only_attributes_allowed: true,
        store_planned_private: true,
        ..Default::default()
    }
}

/// The configuration `resource "hwrds_db_minor_upgrade" "orders" { instance_id = ORDERS }`.
fn config() -> Value {
    let mut config = Value::null_object(&resource_type());
    config.set_attr("instance_id", Value::string(ORDERS));
    config
}

/// PlanResourceChange of creating the upgrade, with the first plan's private data when
/// this is the final plan of an apply: the planned state and private data.
async fn plan(plugin: &mut Plugin, first_plan_private: Vec<u8>) -> (Value, Vec<u8>) {
    let ty = resource_type();
    let planned = plugin
        .client
        .plan_resource_change(tf::plan_resource_change::Request {
            type_name: "hwrds_db_minor_upgrade".into(),
            prior_state: dynamic(&Value::Null, &ty),
            proposed_new_state: dynamic(&config(), &ty),
            config: dynamic(&config(), &ty),
            client_capabilities: Some(capabilities()),
            planned_private: first_plan_private,
            ..Default::default()
        })
        .await
        .expect("PlanResourceChange")
        .into_inner();
    let errors: Vec<_> = planned
        .diagnostics
        .iter()
        .filter(|d| d.severity == 1)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    (decode(planned.planned_state, &ty), planned.planned_private)
}

/// ApplyResourceChange of creating the upgrade as the final plan `planned` (with its
/// private data) has it.
async fn apply(
    plugin: &mut Plugin,
    planned: &Value,
    planned_private: Vec<u8>,
) -> tf::apply_resource_change::Response {
    let ty = resource_type();
    plugin
        .client
        .apply_resource_change(tf::apply_resource_change::Request {
            type_name: "hwrds_db_minor_upgrade".into(),
            prior_state: dynamic(&Value::Null, &ty),
            planned_state: dynamic(planned, &ty),
            config: dynamic(&config(), &ty),
            planned_private,
            ..Default::default()
        })
        .await
        .expect("ApplyResourceChange")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn moved_target_refused_in_the_final_plan_of_terraform_1_16() {
    let emu = Emulator::start(
        json!({"instances": [{"id": ORDERS, "name": "orders", "type": "Single"}]}),
        false,
    );
    let mut planning = configured(&emu.url).await;
    let (first, private) = plan(&mut planning, Vec::new()).await;
    drop(planning);
    assert_eq!(
        first.attr_string("target_version").as_deref(),
        Some("8.0.32")
    );
    assert!(
        !private.is_empty(),
        "the plan keeps its target for the apply"
    );

    emu.admin(
        "/__emulator/versions",
        json!({"engine": "MySQL", "version": "8.0.33"}),
    );

    // Terraform 1.15 and older: the final plan derives the target again (Terraform then
    // refuses the apply: the planned value changed).
    let mut old = configured(&emu.url).await;
    let (replanned, _) = plan(&mut old, Vec::new()).await;
    assert_eq!(
        replanned.attr_string("target_version").as_deref(),
        Some("8.0.33")
    );
    drop(old);

    // Terraform 1.16+: the final plan gets the private data back and keeps the reviewed
    // target, so that the apply can refuse it with its own error.
    let mut applying = configured(&emu.url).await;
    let (final_plan, final_private) = plan(&mut applying, private).await;
    assert_eq!(
        final_plan.attr_string("target_version").as_deref(),
        Some("8.0.32"),
        "Terraform's consistency check passes: {final_plan:?}"
    );
    let applied = apply(&mut applying, &final_plan, final_private).await;
    let error = applied
        .diagnostics
        .iter()
        .find(|d| d.severity == 1)
        .unwrap_or_else(|| panic!("the apply fails: {:?}", applied.diagnostics));
    assert_eq!(
        error.summary,
        "orders: Newer minor version than the plan showed"
    );
    assert!(
        error
            .detail
            .contains("the plan showed it installs 8.0.32, and the API would now install 8.0.33"),
        "{}",
        error.detail
    );
    let at: Vec<_> = error
        .attribute
        .iter()
        .flat_map(|p| p.steps.iter())
        .filter_map(|s| match &s.selector {
            Some(tf::attribute_path::step::Selector::AttributeName(name)) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(at, ["instance_id"]);
    assert_eq!(
        emu.upgrade_posts(ORDERS),
        0,
        "nothing submitted: {}",
        emu.stats()
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 0);
}

/// An upgrade submitted a moment before the plan (an apply interrupted right after its
/// POST, applied again at once) shows only after it: the plan shows `version_before`
/// known, the final plan sees the upgrade under way. Terraform 1.16+ hands the plan's
/// private data back and the final plan keeps the version the plan showed, so the apply
/// adopts the upgrade; without it (Terraform 1.15 and older) `version_before` is unknown
/// there, which Terraform refuses before anything is sent (tests/crashes.rs).
#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_the_plan_could_not_see_yet_keeps_version_before_with_terraform_1_16() {
    let visible_after = 4.0;
    let emu = Emulator::start(
        json!({"job_seconds": 8, "job_visible_after_seconds": visible_after,
               "instances": [{"id": ORDERS, "name": "orders", "type": "Single"}]}),
        false,
    );
    let submitted = tokio::time::Instant::now();
    let url = emu.url.clone();
    let job = tokio::task::spawn_blocking(move || common::client::console_upgrade(&url, ORDERS))
        .await
        .expect("join")
        .expect("an upgrade submitted elsewhere");
    let mut planning = configured(&emu.url).await;
    let (first, private) = plan(&mut planning, Vec::new()).await;
    drop(planning);
    assert!(
        submitted.elapsed().as_secs_f64() < visible_after,
        "the plan ran before the upgrade showed; nothing tested"
    );
    for (name, planned) in [("version_before", "8.0.28"), ("target_version", "8.0.32")] {
        assert_eq!(first.attr_string(name).as_deref(), Some(planned), "{name}");
    }

    tokio::time::sleep_until(submitted + Duration::from_secs_f64(visible_after + 0.5)).await;

    let mut old = configured(&emu.url).await;
    let (replanned, _) = plan(&mut old, Vec::new()).await;
    assert_eq!(
        replanned.get_attr("version_before"),
        Some(&Value::Unknown),
        "derived again with the upgrade under way"
    );
    assert_eq!(
        replanned.attr_string("target_version").as_deref(),
        Some("8.0.32")
    );
    drop(old);

    let mut applying = configured(&emu.url).await;
    let (final_plan, final_private) = plan(&mut applying, private).await;
    for (name, planned) in [("version_before", "8.0.28"), ("target_version", "8.0.32")] {
        assert_eq!(
            final_plan.attr_string(name).as_deref(),
            Some(planned),
            "{name}: Terraform's consistency check passes"
        );
    }
    let applied = apply(&mut applying, &final_plan, final_private).await;
    assert!(
        applied.diagnostics.iter().all(|d| d.severity != 1),
        "{:?}",
        applied.diagnostics
    );
    let state = decode(applied.new_state, &resource_type());
    assert_eq!(state.attr_string("job_id").as_deref(), Some(job.as_str()));
    assert_eq!(
        state.attr_string("version_before").as_deref(),
        Some("8.0.28")
    );
    assert_eq!(emu.upgrade_jobs(ORDERS), 1, "adopted, not repeated");
}
