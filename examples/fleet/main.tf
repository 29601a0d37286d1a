# Fleet upgrade: every MySQL and PostgreSQL instance of the project to its latest minor
# version, keyed by instance name.
#
# The for_each leaves out only what never takes a minor upgrade of its own: read
# replicas (upgraded with their primary) and other engines. Every other instance has a
# record, whatever its state: with on_blocked = "skip", one that something blocks now
# (frozen, storage full, an abnormal node, not ACTIVE) is recorded as Skipped with a
# warning instead of failing the plan, and each plan checks it again. So the map does
# not change when an instance is upgraded or becomes blocked, and no plan destroys a
# record. The output "excluded" names every instance an upgrade cannot reach now, with
# the reasons. An instance already on its latest version is recorded as UpToDate,
# nothing submitted. When a newer minor version is released, the trigger changes and
# the plan updates each record in place, with the new target_version.

terraform {
  required_providers {
    hwrds = {
      source = "hwrds/hwrds"
    }
  }
}

provider "hwrds" {}

data "hwrds_db_instances" "fleet" {}

locals {
  # A name two instances share gets the first 8 characters of each one's id.
  ids_by_name = { for i in data.hwrds_db_instances.fleet.instances : i.name => i.id... }
  instances = {
    for i in data.hwrds_db_instances.fleet.instances :
    (length(local.ids_by_name[i.name]) > 1 ? "${i.name}-${substr(i.id, 0, 8)}" : i.name) => i
  }
}

resource "hwrds_db_minor_upgrade" "fleet" {
  for_each = {
    for name, i in local.instances : name => i
    if i.type != "Replica" && contains(["MySQL", "PostgreSQL"], i.engine)
  }

  instance_id = each.value.id
  on_blocked  = "skip"
  # MySQL in each instance's maintenance window; PostgreSQL upgrades run immediately only.
  is_delayed = each.value.engine == "MySQL"
  triggers = {
    minor = each.value.latest_version
  }
}

# The instances no upgrade reaches now (left out of the map, or Skipped), and why: the
# same before and after the apply.
output "excluded" {
  value = {
    for name, i in local.instances : name => i.upgrade_blockers
    if length(i.upgrade_blockers) > 0
  }
}

output "fleet" {
  value = {
    for name, u in hwrds_db_minor_upgrade.fleet : name => {
      before = u.version_before
      after  = u.version_after
      status = u.status
    }
  }
}
