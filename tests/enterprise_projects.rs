//! Enterprise projects: the emulator lists one project's instances for `eps_id` and
//! refuses a user scoped to one project (as `g:EnterpriseProjectId` scopes it) outside
//! it; the provider's `enterprise_project_id` (`HW_ENTERPRISE_PROJECT_ID`) lists only that
//! project, the data sources show each instance's project, and a scoped user without it
//! gets a plan error that says why.

pub mod common;

use common::fixtures::{flat, upgrade};
use common::signed::{exchange, spec};
use common::{Emulator, PROJECT_ID, workspace};
use serde_json::{Value, json};

const SCOPED_AK: &str = "SCOPEDAK";
const SCOPED_SK: &str = "SCOPEDSK";
const A1: &str = "a0000001e5f64a7b8c9d0e1f2a3b4c5din01";
const A2: &str = "a0000002e5f64a7b8c9d0e1f2a3b4c5din01";
const B1: &str = "b0000001e5f64a7b8c9d0e1f2a3b4c5din01";

fn emulator() -> Emulator {
    let eps = |id: &str, project: &str| spec(id, json!({"enterprise_project_id": project}));
    Emulator::start(
        json!({
            "instances": [eps(A1, "eps-a"), eps(A2, "eps-a"), eps(B1, "eps-b")],
            "extra_credentials": [{"access_key": SCOPED_AK, "secret_key": SCOPED_SK,
                                    "enterprise_project_id": "eps-a"}],
        }),
        false,
    )
}

async fn call(
    emu: &Emulator,
    keys: (&str, &str),
    method: &str,
    path: &str,
    query: &[(&str, &str)],
) -> (u16, Value) {
    let body = (method == "POST").then(|| json!({"is_delayed": false}));
    let (status, _, body) = exchange(emu, keys, method, path, query, body, None).await;
    (status, body)
}

#[tokio::test]
async fn the_emulator_filters_by_eps_id_and_keeps_a_scoped_user_inside_its_project() {
    let emu = emulator();
    let list = format!("/v3/{PROJECT_ID}/instances");
    let main = (common::ACCESS_KEY, common::SECRET_KEY);
    let (status, body) = call(&emu, main, "GET", &list, &[("eps_id", "eps-b")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["total_count"], 1);
    assert_eq!(body["instances"][0]["enterprise_project_id"], "eps-b");

    let scoped = (SCOPED_AK, SCOPED_SK);
    let (status, body) = call(&emu, scoped, "GET", &list, &[]).await;
    assert_eq!(
        (status, &body["error_code"]),
        (403, &json!("DBS.200010")),
        "{body}"
    );
    let (status, body) = call(&emu, scoped, "GET", &list, &[("eps_id", "eps-a")]).await;
    assert_eq!((status, &body["total_count"]), (200, &json!(2)), "{body}");
    let upgrade = |id: &str| format!("/v3/{PROJECT_ID}/instances/{id}/db-upgrade");
    let (status, body) = call(&emu, scoped, "POST", &upgrade(B1), &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("upgradeDatabaseVersion")
    );
    assert_eq!(emu.upgrade_posts(B1), 0);
    let (status, body) = call(&emu, scoped, "POST", &upgrade(A1), &[]).await;
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_provider_sees_one_enterprise_project_and_says_why_a_scoped_user_needs_it() {
    let emu = emulator();
    let body = format!(
        "data \"hwrds_db_instances\" \"all\" {{}}\n\
         output \"projects\" {{\n  value = {{ for i in data.hwrds_db_instances.all.instances : i.id => i.enterprise_project_id }}\n}}\n{}",
        upgrade("a1", A1, "")
    );
    let mut ws = workspace(&emu, &body);
    ws.set_env("HW_ACCESS_KEY", SCOPED_AK);
    ws.set_env("HW_SECRET_KEY", SCOPED_SK);
    let refused = ws.plan();
    assert_eq!(refused.code, 1, "{}", refused.all());
    let all = flat(&refused.all());
    assert!(all.contains("permission denied"), "{all}");
    assert!(
        all.contains("set enterprise_project_id (HW_ENTERPRISE_PROJECT_ID)"),
        "{all}"
    );

    ws.set_env("HW_ENTERPRISE_PROJECT_ID", "eps-a");
    ws.apply().assert_ok();
    let shown = ws.run(&["output", "-json", "projects"]);
    shown.assert_ok();
    let projects: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(projects, json!({A1: "eps-a", A2: "eps-a"}));
    assert_eq!(
        ws.resource_attributes("hwrds_db_minor_upgrade.a1")["status"],
        "Completed"
    );
    assert_eq!(emu.upgrade_jobs(A1), 1);
}
