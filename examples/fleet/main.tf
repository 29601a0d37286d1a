# Fleet upgrade: every MySQL instance of the project to its latest minor version.
#
# Iterate over ALL the fleet's instances, not only those with upgrade_available: an
# upgraded instance would drop out of a filtered for_each on the next plan, and
# destroying hwrds_db_minor_upgrade only forgets it. The trigger keeps each resource
# stable until a newer minor version appears.

terraform {
  required_providers {
    hwrds = {
      source = "hwrds/hwrds"
    }
  }
}

provider "hwrds" {}

data "hwrds_db_instances" "fleet" {
  engine = "MySQL"
}

locals {
  # Read replicas are left to their primary (older Huawei guides upgrade them only with
  # it; the plan of a replica on its own warns and lets the API decide).
  fleet = {
    for i in data.hwrds_db_instances.fleet.instances : i.id => i
    if i.type != "Replica"
  }
}

resource "hwrds_db_minor_upgrade" "fleet" {
  for_each = local.fleet

  instance_id = each.key
  is_delayed  = true # each instance in its own maintenance window
  triggers = {
    minor = each.value.latest_version
  }
}

output "fleet" {
  value = {
    for id, u in hwrds_db_minor_upgrade.fleet :
    local.fleet[id].name => "${u.version_before}: ${u.status}"
  }
}
