# Fleet upgrade: every MySQL and PostgreSQL instance of the project to its latest minor
# version, keyed by instance name.
#
# The for_each leaves out only the instances something blocks (upgrade_blockers: frozen,
# storage full, an abnormal node, not ACTIVE, a read replica, an engine without minor
# upgrades), and the output "excluded" names them with the reasons. It does not filter
# on upgrade_available: that turns false once an instance is upgraded, and the next plan
# would destroy its record. An instance already on its latest version stays planned: it
# is recorded as UpToDate, nothing submitted. The trigger keeps each resource stable
# until a newer minor version appears.

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
  for_each = { for name, i in local.instances : name => i if length(i.upgrade_blockers) == 0 }

  instance_id = each.value.id
  # MySQL in each instance's maintenance window; PostgreSQL upgrades run immediately only.
  is_delayed = each.value.engine == "MySQL"
  triggers = {
    minor = each.value.latest_version
  }
}

# The instances the plan leaves out, and why: the same before and after the apply.
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
