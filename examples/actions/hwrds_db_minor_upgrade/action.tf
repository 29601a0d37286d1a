# Upgrade on demand and watch the job:
#   terraform apply -invoke=action.hwrds_db_minor_upgrade.orders
action "hwrds_db_minor_upgrade" "orders" {
  config {
    instance_id = data.hwrds_db_instance.orders.id
    timeout     = "90m"
  }
}

data "hwrds_db_instance" "orders" {
  name = "orders"
}

# Or after a release is rolled out: the upgrade runs once the resource is created.
resource "terraform_data" "release" {
  input = "2026-11"

  lifecycle {
    action_trigger {
      events  = [after_create]
      actions = [action.hwrds_db_minor_upgrade.orders]
    }
  }
}
