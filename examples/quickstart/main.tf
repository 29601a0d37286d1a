# Quickstart: upgrade two MySQL instances to their latest minor version.
#
# `make demo` runs this against the local RDS emulator. Against Huawei Cloud, set
# HW_REGION_NAME, HW_ACCESS_KEY and HW_SECRET_KEY (and HW_PROJECT_ID if you know it),
# and use the names of your own instances.

terraform {
  required_providers {
    hwrds = {
      source = "hwrds/hwrds"
    }
  }
}

provider "hwrds" {}

data "hwrds_db_instance" "orders" {
  name = "orders"
}

data "hwrds_db_instance" "payments" {
  name = "payments"
}

# A single instance: upgraded now, the apply waits for the job.
resource "hwrds_db_minor_upgrade" "orders" {
  instance_id = data.hwrds_db_instance.orders.id
  triggers = {
    minor = data.hwrds_db_instance.orders.latest_version
  }
}

# Primary/standby: after the rolling upgrade, switch back so each node keeps its zone.
resource "hwrds_db_minor_upgrade" "payments" {
  instance_id   = data.hwrds_db_instance.payments.id
  second_switch = true
  triggers = {
    minor = data.hwrds_db_instance.payments.latest_version
  }
  timeouts {
    create = "90m"
  }
}

output "upgrades" {
  description = "Each upgrade: versions before and after, job and status."
  value = {
    for name, u in {
      orders   = hwrds_db_minor_upgrade.orders
      payments = hwrds_db_minor_upgrade.payments
    } : name => "${u.version_before} -> ${u.version_after} (job ${u.job_id}: ${u.status})"
  }
}
