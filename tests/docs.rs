//! The committed `docs/` are exactly what `hwrds::docs::render` makes of the provider's
//! schema, `examples/` and `docs-src/`: this test fails on any difference (run `make docs`),
//! and with `HWRDS_WRITE_DOCS=1` (what `make docs` sets) it writes them instead.

pub mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hwrds::provider::HwrdsProvider;

/// Every file under `dir`, relative to `root`.
fn files_under(root: &Path, dir: &Path, found: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("read docs dir").path();
        if path.is_dir() {
            files_under(root, &path, found);
        } else {
            found.insert(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
}

#[test]
fn committed_docs_match_the_generator() {
    let root = common::repo_root();
    let pages = hwrds::docs::render(&HwrdsProvider::new(), &root).expect("render docs");
    let mut committed = BTreeSet::new();
    files_under(&root, &root.join("docs"), &mut committed);
    let generated: BTreeSet<PathBuf> = pages.iter().map(|(p, _)| p.clone()).collect();

    if std::env::var_os("HWRDS_WRITE_DOCS").is_some_and(|v| v == "1") {
        for stale in committed.difference(&generated) {
            std::fs::remove_file(root.join(stale)).expect("remove stale page");
            println!("removed {}", stale.display());
        }
        for (path, text) in &pages {
            let full = root.join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("docs dir");
            if std::fs::read_to_string(&full).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&full, text).expect("write page");
                println!("wrote {}", path.display());
            }
        }
        return;
    }

    let mut problems = Vec::new();
    for stale in committed.difference(&generated) {
        problems.push(format!("{} is not generated any more", stale.display()));
    }
    for (path, text) in &pages {
        match std::fs::read_to_string(root.join(path)) {
            Err(_) => problems.push(format!("{} is missing", path.display())),
            Ok(old) if old != *text => {
                let line = old
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| old.lines().count().min(text.lines().count()));
                problems.push(format!(
                    "{} differs from the generator from line {}:\n  committed: {:?}\n  generated: {:?}",
                    path.display(),
                    line + 1,
                    old.lines().nth(line).unwrap_or("<end of file>"),
                    text.lines().nth(line).unwrap_or("<end of file>"),
                ));
            }
            Ok(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "docs/ is out of date; run `make docs` and commit the result.\n{}",
        problems.join("\n")
    );
}

/// The pages the registry layout needs, with what each must show.
#[test]
fn pages_cover_the_schema() {
    let root = common::repo_root();
    let pages = hwrds::docs::render(&HwrdsProvider::new(), &root).expect("render docs");
    let page = |name: &str| {
        pages
            .iter()
            .find(|(p, _)| p == Path::new(name))
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("{name} not generated"))
    };
    let index = page("docs/index.md");
    for expected in [
        "# hwrds Provider",
        "* `secret_key` - (Optional, String, Sensitive)",
        "* `max_retries` - (Optional, Number)",
        "HW_SECURITY_TOKEN",
        "HWRDS_IAM_ENDPOINT",
        "make demo",
        "provider \"hwrds\" {",
    ] {
        assert!(index.contains(expected), "index.md lacks {expected:?}");
    }
    let resource = page("docs/resources/db_minor_upgrade.md");
    for expected in [
        "# hwrds_db_minor_upgrade (Resource)",
        "* `instance_id` - (Required, String)",
        "Changing this forces a new resource.",
        "* `second_switch` - (Optional, Boolean, Default `true`)",
        "* `triggers` - (Optional, Map of String)",
        "### `timeouts` block",
        "* `version_after` - (String)",
        "## Import",
        "terraform import hwrds_db_minor_upgrade.orders",
        "resource \"hwrds_db_minor_upgrade\" \"orders\" {",
    ] {
        assert!(
            resource.contains(expected),
            "resource page lacks {expected:?}"
        );
    }
    let instances = page("docs/data-sources/db_instances.md");
    for expected in [
        "* `name_regex` - (Optional, String)",
        "* `instances` - (List of Object)",
        "* `upgrade_available` - (Boolean)",
    ] {
        assert!(
            instances.contains(expected),
            "db_instances page lacks {expected:?}"
        );
    }
    page("docs/data-sources/db_instance.md");
    let guide = page("docs/guides/fleet-upgrades.md");
    assert!(
        guide.contains("triggers = {"),
        "the guide embeds examples/fleet"
    );
    let reviewing = page("docs/guides/reviewing-upgrades.md");
    for expected in [
        "## A summary for the pull request",
        "terraform-provider-hwrds summary --plan plan.json --log plan.log.jsonl",
        ".terraform/providers/registry.terraform.io/hwrds/hwrds/<version>/<os_arch>/terraform-provider-hwrds_v<version>",
    ] {
        assert!(
            reviewing.contains(expected),
            "reviewing-upgrades lacks {expected:?}"
        );
    }
}
