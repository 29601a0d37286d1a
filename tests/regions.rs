//! Every region of Huawei's official SDK region tables (RDS and IAM, from the SDK the test
//! tools install into `.tools/venv`) against the provider's endpoint derivation, so a
//! region Huawei adds with an endpoint the rule does not give fails here first.

pub mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::repo_root;
use hwrds::rds::endpoints::{Cloud, iam_endpoint, rds_endpoint};
use serde_json::Value;

/// Region → the endpoints the SDK lists for it, per service.
type Table = BTreeMap<String, Vec<String>>;

fn sdk_tables() -> (Table, Table, Value) {
    let python = repo_root().join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make test` (scripts/install-terraform installs Huawei's SDK)",
        python.display()
    );
    let out = Command::new(&python)
        .arg(repo_root().join("tests/sdk_oracle/region_tables.py"))
        .env_remove("PYTHONPATH")
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "reading the SDK's region tables failed (huaweicloudsdkrds and huaweicloudsdkiam must be \
         in .tools/venv: run `make test`, whose scripts/install-terraform installs them):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut all: Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    let table = |all: &mut Value, name: &str| -> Table {
        serde_json::from_value(all[name].take()).expect("region → endpoints")
    };
    let (rds, iam) = (table(&mut all, "rds"), table(&mut all, "iam"));
    (rds, iam, all["versions"].take())
}

/// The regions whose derived endpoint is not the SDK's (first) endpoint.
fn mismatches(table: &Table, derive: fn(&str) -> String) -> Vec<String> {
    table
        .iter()
        .filter_map(|(region, endpoints)| {
            let ours = derive(region);
            (endpoints.first() != Some(&ours))
                .then(|| format!("{region}: SDK {endpoints:?}, hwrds {ours}"))
        })
        .collect()
}

#[test]
fn every_sdk_region_gets_the_sdks_endpoints() {
    let (rds, iam, versions) = sdk_tables();
    // A table read wrong must not pass for an empty one.
    assert!(
        rds.len() >= 30 && iam.len() >= 25,
        "rds {rds:?}\niam {iam:?}"
    );
    for table in [&rds, &iam] {
        assert!(table.contains_key("eu-west-101") && table.contains_key("ap-southeast-1"));
    }

    let mut wrong = mismatches(&rds, rds_endpoint);
    wrong.extend(mismatches(&iam, iam_endpoint));
    assert!(
        wrong.is_empty(),
        "endpoints that differ from Huawei's SDK ({versions}):\n{}",
        wrong.join("\n")
    );

    // The EU sovereign cloud is the one exception to `myhuaweicloud.com`, in both tables.
    for table in [&rds, &iam] {
        for (region, endpoints) in table {
            let eu = endpoints[0].ends_with(".myhuaweicloud.eu");
            assert_eq!(eu, Cloud::of(region) == Cloud::EuSovereign, "{region}");
        }
    }

    let mut regions: Vec<&String> = rds.keys().chain(iam.keys()).collect();
    regions.sort();
    regions.dedup();
    println!(
        "checked {} RDS and {} IAM regions ({} distinct) of {versions}: {}",
        rds.len(),
        iam.len(),
        regions.len(),
        regions
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
}
