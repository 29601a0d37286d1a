//! Through real Terraform: a machine whose clock is an hour off gets one clear diagnostic
//! about the clock at once (no retry storm), and every request says who sent it with
//! `User-Agent: hwrds/<version>`.

pub mod common;

use std::time::{Duration, Instant};

use common::fixtures::ORDERS;
use common::{Emulator, stats_total};
use serde_json::json;

fn data_source() -> String {
    format!(
        "data \"hwrds_db_instance\" \"orders\" {{\n  id = \"{ORDERS}\"\n}}\noutput \"status\" {{ value = data.hwrds_db_instance.orders.status }}\n"
    )
}

#[test]
fn an_hour_of_clock_skew_fails_fast_and_names_the_clock() {
    let emu = Emulator::start(json!({"clock_skew_seconds": 3600}), false);
    let ws = common::workspace(&emu, &data_source());
    let started = Instant::now();
    let plan = ws.run(&["plan", "-input=false"]);
    let took = started.elapsed();
    let out = plan.all().split_whitespace().collect::<Vec<_>>().join(" ");
    assert_ne!(plan.code, 0, "the plan must fail:\n{out}");
    assert!(out.contains("APIGW.0303"), "the gateway's code:\n{out}");
    assert!(
        out.contains("this machine's clock") && out.contains("15 minutes"),
        "the diagnostic says what to fix:\n{out}"
    );
    let requests = stats_total(&emu.stats(), "requests");
    assert!(requests <= 3, "no retry storm: {requests} requests");
    assert!(took < Duration::from_secs(30), "fails fast: {took:?}");
    eprintln!("clock skew 3600 s: failed after {requests} request(s) in {took:?}");

    // Within the 15-minute window the same plan works.
    let emu = Emulator::start(json!({"clock_skew_seconds": 600}), false);
    let ws = common::workspace(&emu, &data_source());
    ws.run(&["plan", "-input=false"]).assert_ok();
}

#[test]
fn every_request_carries_the_hwrds_user_agent() {
    let emu = Emulator::start(json!({}), false);
    let ws = common::workspace(&emu, &data_source());
    ws.run(&["plan", "-input=false"]).assert_ok();
    let stats = emu.stats();
    let agents = stats["user_agents"]
        .as_object()
        .expect("user_agents in stats");
    let expected = concat!("hwrds/", env!("CARGO_PKG_VERSION"));
    assert_eq!(agents.keys().collect::<Vec<_>>(), vec![expected], "{stats}");
    assert_eq!(
        agents[expected].as_u64(),
        Some(stats_total(&emu.stats(), "requests")),
        "every signed request: {stats}"
    );
}
