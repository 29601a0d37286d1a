//! What Huawei's docs say the upgrade API may answer, end to end through real Terraform
//! and the emulator: a running backup waited out with one job, refusals that name their
//! cause with nothing recorded, a policy without the upgrade action, and the plan's
//! word on instances frozen, full or backing up.

pub mod common;

use common::Emulator;
use common::fixtures::{POST_UPGRADE, flat, upgrade};
use serde_json::{Value, json};

/// A MySQL single instance `name` with id `<name>…in01`, plus `extra` keys.
fn instance(id: &str, name: &str, extra: Value) -> Value {
    let mut spec = json!({"id": id, "name": name, "complete_version": "8.0.28",
                          "latest_version": "8.0.32", "job_seconds": 1});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

fn id(n: u32) -> String {
    format!("f{n:031x}in01")
}

fn refusal(status: u16, code: &str, message: &str, err_code_shape: bool) -> Value {
    json!({"status": status, "code": code, "message": message, "err_code_shape": err_code_shape})
}

fn state_is_empty(ws: &common::Workspace) -> bool {
    let state = ws.state();
    state["values"]["root_module"]["resources"]
        .as_array()
        .is_none_or(|r| r.is_empty())
}

#[test]
fn backup_in_progress_is_waited_out_with_one_job() {
    let orders = id(1);
    let emu = Emulator::start(
        json!({"instances": [instance(&orders, "orders", json!({"upgrade_refusals": [
            refusal(409, "DBS.201205", "Backup in progress.", true)]}))]}),
        false,
    );
    let ws = common::workspace(&emu, &upgrade("orders", &orders, ""));
    ws.apply().assert_ok();
    let a = ws.resource_attributes("hwrds_db_minor_upgrade.orders");
    assert_eq!(a["status"], "Completed", "{a}");
    assert_eq!(
        emu.upgrade_posts(&orders),
        2,
        "refused once as busy, then submitted"
    );
    assert_eq!(emu.upgrade_jobs(&orders), 1, "exactly one job");
}

#[test]
fn refusals_name_their_cause_and_record_nothing() {
    let cases = [
        (409, "DBS.200316", false, "storage is full", "Scale up"),
        (400, "DBS.280449", true, "is frozen", "Unfreeze"),
        (
            400,
            "DBS.200037",
            false,
            "engine versions are inconsistent",
            "one version",
        ),
        (
            400,
            "DBS.200038",
            true,
            "replication is abnormal",
            "recover",
        ),
        (
            400,
            "DBS.200039",
            false,
            "delay is over 5 minutes",
            "delay drops",
        ),
    ];
    let ids: Vec<String> = (0..cases.len() as u32).map(|n| id(10 + n)).collect();
    let instances: Vec<Value> = cases
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(n, ((status, code, shape, _, _), id))| {
            instance(
                id,
                &format!("db{n}"),
                json!({"upgrade_refusals": [refusal(*status, code, "refused", *shape)]}),
            )
        })
        .collect();
    let emu = Emulator::start(json!({"instances": instances}), false);
    let body: String = ids
        .iter()
        .enumerate()
        .map(|(n, id)| upgrade(&format!("db{n}"), id, ""))
        .collect();
    let ws = common::workspace(&emu, &body);
    let apply = ws.apply();
    assert_ne!(apply.code, 0, "every upgrade is refused:\n{}", apply.all());
    let out = flat(&apply.all());
    for ((_, code, _, cause, fix), id) in cases.iter().zip(&ids) {
        assert!(out.contains(cause), "{code}: the cause is named:\n{out}");
        assert!(out.contains(fix), "{code}: the fix is named:\n{out}");
        assert!(out.contains(code), "{code} is quoted:\n{out}");
        assert_eq!(emu.upgrade_posts(id), 1, "{code}: never retried");
        assert_eq!(emu.upgrade_jobs(id), 0, "{code}: no job");
    }
    assert!(
        out.contains("Nothing was submitted and nothing is recorded"),
        "{out}"
    );
    assert!(
        out.contains("with hwrds_db_minor_upgrade.db0"),
        "at the resource:\n{out}"
    );
    assert!(out.contains("instance_id"), "at instance_id:\n{out}");
    assert!(state_is_empty(&ws), "nothing recorded: {}", ws.state());
}

#[test]
fn a_policy_without_the_upgrade_action_is_a_clear_refusal() {
    let orders = id(20);
    let (ak, sk) = ("READONLYAK", "READONLYSK");
    let emu = Emulator::start(
        json!({"instances": [instance(&orders, "orders", json!({}))],
               "extra_credentials": [{"access_key": ak, "secret_key": sk,
                                      "deny": ["rds:instance:upgradeDatabaseVersion"]}]}),
        false,
    );
    let mut ws = common::workspace(&emu, &upgrade("orders", &orders, ""));
    ws.set_env("HW_ACCESS_KEY", ak);
    ws.set_env("HW_SECRET_KEY", sk);
    ws.run(&["plan", "-input=false"]).assert_ok();
    let apply = ws.apply();
    assert_ne!(apply.code, 0, "{}", apply.all());
    let out = flat(&apply.all());
    for shown in [
        "Upgrade refused: permission denied",
        "rds:instance:upgradeDatabaseVersion",
        "rds:instance:modify",
        "HTTP 403",
        "Nothing was submitted and nothing is recorded",
        "instance_id",
    ] {
        assert!(out.contains(shown), "{shown}:\n{out}");
    }
    let requests = emu.stats()["requests"][POST_UPGRADE].as_u64().unwrap_or(0);
    assert_eq!(requests, 1, "a permission refusal is never retried");
    assert_eq!(emu.upgrade_jobs(&orders), 0);
    assert!(state_is_empty(&ws), "nothing recorded: {}", ws.state());
}

#[test]
fn the_plan_names_frozen_full_and_backing_up_instances() {
    let cases = [
        ("FROZEN", "Instance is frozen", "unfreeze"),
        ("STORAGE FULL", "Instance storage is full", "scale up"),
        (
            "BACKING UP",
            "Instance is backing up",
            "wait for it to finish",
        ),
    ];
    let ids: Vec<String> = (0..cases.len() as u32).map(|n| id(30 + n)).collect();
    let instances: Vec<Value> = cases
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(n, ((status, _, _), id))| instance(id, &format!("db{n}"), json!({"status": status})))
        .collect();
    let emu = Emulator::start(json!({"instances": instances}), false);
    let body: String = ids
        .iter()
        .enumerate()
        .map(|(n, id)| upgrade(&format!("db{n}"), id, ""))
        .collect();
    let ws = common::workspace(&emu, &body);
    let plan = ws.plan();
    assert_ne!(plan.code, 0, "{}", plan.all());
    let out = flat(&plan.all());
    for (status, summary, fix) in cases {
        assert!(out.contains(summary), "{status}: {out}");
        assert!(out.contains(fix), "{status}: {out}");
    }
    assert!(out.contains("instance_id"), "{out}");
    for id in &ids {
        assert_eq!(emu.upgrade_posts(id), 0);
    }
}

#[test]
fn a_read_replica_is_left_to_the_api() {
    let (primary, refused, allowed) = (id(40), id(41), id(42));
    let replica = |upgradable: bool| json!({"type": "Replica", "primary_id": primary, "replica_upgradable": upgradable});
    let emu = Emulator::start(
        json!({"instances": [instance(&primary, "primary", json!({})),
                             instance(&refused, "old-replica", replica(false)),
                             instance(&allowed, "new-replica", replica(true))]}),
        false,
    );
    // The API upgrades the replica alone: the plan warns with both facts, the apply works.
    let ws = common::workspace(&emu, &upgrade("r", &allowed, ""));
    let plan = ws.plan();
    let out = flat(&plan.all());
    assert_eq!(plan.code, 2, "a warning, not an error:\n{out}");
    for shown in [
        "A read replica may not be upgradable alone",
        "Older Huawei Cloud user guides",
        "newer MySQL guide",
        primary.as_str(),
    ] {
        assert!(out.contains(shown), "{shown}:\n{out}");
    }
    ws.apply().assert_ok();
    assert_eq!(
        ws.resource_attributes("hwrds_db_minor_upgrade.r")["status"],
        "Completed"
    );
    assert_eq!(emu.upgrade_jobs(&allowed), 1);

    // The API refuses it: a clear error naming the primary, nothing recorded.
    let ws = common::workspace(&emu, &upgrade("r", &refused, ""));
    let apply = ws.apply();
    let out = flat(&apply.all());
    assert_ne!(apply.code, 0, "{out}");
    for shown in [
        "Upgrade refused: the read replica is not upgraded alone",
        "Upgrade its primary instance",
        &format!("Its primary is {primary}"),
        "Nothing was submitted and nothing is recorded",
    ] {
        assert!(out.contains(shown), "{shown}:\n{out}");
    }
    assert_eq!(emu.upgrade_posts(&refused), 1, "never retried");
    assert_eq!(emu.upgrade_jobs(&refused), 0);
    assert!(state_is_empty(&ws), "nothing recorded: {}", ws.state());
}

#[test]
fn a_postgresql_instance_in_a_dr_relation_is_warned_about_with_one_listing() {
    let (primary, dr, alone, mysql) = (id(50), id(51), id(52), id(53));
    let pg = json!({"engine": "PostgreSQL", "version": "14", "complete_version": "14.8",
                    "latest_version": "14.12"});
    let emu = Emulator::start(
        json!({"instances": [instance(&primary, "pg-primary", pg.clone()),
                             instance(&alone, "pg-alone", pg.clone()),
                             instance(&mysql, "orders", json!({}))],
               "dr_relations": [{"instance_id": primary, "master_instance_id": primary,
                                 "slave_instance_ids": [dr]}]}),
        false,
    );
    let body = format!(
        "{}{}{}",
        upgrade("primary", &primary, ""),
        upgrade("alone", &alone, ""),
        upgrade("mysql", &mysql, "")
    );
    let ws = common::workspace(&emu, &body);
    let plan = ws.plan();
    let out = flat(&plan.all());
    assert_eq!(plan.code, 2, "a warning, not an error:\n{out}");
    assert_eq!(
        out.matches("Instance is in a disaster-recovery relation")
            .count(),
        1,
        "only the instance in the relation:\n{out}"
    );
    for shown in [
        "pg-primary",
        dr.as_str(),
        "the DR relationship must be re-established",
        "with hwrds_db_minor_upgrade.primary",
    ] {
        assert!(out.contains(shown), "{shown}:\n{out}");
    }
    let route = "GET /v3/{project_id}/instances/disaster-recovery-relation";
    assert_eq!(
        emu.stats()["requests"][route],
        1,
        "one listing per provider process"
    );
    // The apply upgrades it all the same.
    ws.apply().assert_ok();
    assert_eq!(emu.upgrade_jobs(&primary), 1);
}

/// The task center by job id: one request for a job the instance's month of tasks shows
/// only on its second page, where listing the instance's tasks takes two.
#[test]
fn a_job_is_found_in_the_task_center_by_its_id_in_one_request() {
    use common::client::{EmulatorClient, console_upgrade};
    use hwrds::rds::{CallCtx, TaskFilter};
    use tokio_util::sync::CancellationToken;

    let busy = id(60);
    let emu = Emulator::start(
        json!({"instances": [instance(&busy, "busy", json!({"job_queryable": false,
                                                               "job_seconds": 0.01}))]}),
        false,
    );
    let mut jobs = Vec::new();
    for _ in 0..55 {
        jobs.push(console_upgrade(&emu.url, &busy).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    let client = EmulatorClient::new(&emu.url)
        .unmetered(1000.0)
        .build()
        .unwrap();
    let tasklist = || {
        emu.stats()["requests"]["GET /v3/{project_id}/tasklist"]
            .as_u64()
            .unwrap_or(0)
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ctx = CallCtx::new(CancellationToken::new());
    let oldest = &jobs[0];

    let before = tasklist();
    let listed = runtime
        .block_on(client.tasks(
            &ctx,
            &TaskFilter {
                instance_id: Some(busy.clone()),
                ..Default::default()
            },
        ))
        .unwrap();
    assert_eq!(listed.len(), 55);
    let by_listing = tasklist() - before;

    let before = tasklist();
    let found = runtime
        .block_on(hwrds::upgrade::job::snapshot(&client, &ctx, oldest, &busy))
        .unwrap()
        .expect("the job is found");
    assert_eq!(&found.id, oldest);
    let by_id = tasklist() - before;
    eprintln!("task center: {by_listing} requests by listing, {by_id} by id");
    assert_eq!((by_listing, by_id), (2, 1));
}

#[test]
fn a_policy_without_read_actions_fails_the_plan_clearly() {
    let orders = id(70);
    let (ak, sk) = ("NOREADAK", "NOREADSK");
    let emu = Emulator::start(
        json!({"instances": [instance(&orders, "orders", json!({}))],
               "extra_credentials": [{"access_key": ak, "secret_key": sk,
                                      "deny": ["rds:instance:list"]}]}),
        false,
    );
    let mut ws = common::workspace(&emu, &upgrade("orders", &orders, ""));
    ws.set_env("HW_ACCESS_KEY", ak);
    ws.set_env("HW_SECRET_KEY", sk);
    let plan = ws.plan();
    let out = flat(&plan.all());
    assert_eq!(plan.code, 1, "{out}");
    for shown in [
        "Cannot read the RDS instance: permission denied",
        "rds:instance:list",
        "HTTP 403",
        "instance_id",
    ] {
        assert!(out.contains(shown), "{shown}:\n{out}");
    }
    let listings = emu.stats()["requests"]["GET /v3/{project_id}/instances"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(listings, 1, "a permission refusal is never retried");
    assert_eq!(emu.upgrade_posts(&orders), 0);
}
