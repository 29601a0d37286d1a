terraform {
  required_providers {
    hwrds = { source = "hwrds/hwrds" }
  }
}

data "hwrds_db_instance" "orders" {
  name = "orders"
}

# Upgrades "orders" in its maintenance window. The plan shows the window
# (maintenance_window); after the apply the state holds when the scheduled task starts
# and ends. The apply returns at once (wait_for_completion defaults to false when
# delayed); a later refresh or apply records the outcome.
resource "hwrds_db_minor_upgrade" "orders" {
  instance_id = data.hwrds_db_instance.orders.id
  is_delayed  = true
}

output "orders_upgrade" {
  value = {
    window = hwrds_db_minor_upgrade.orders.maintenance_window
    start  = hwrds_db_minor_upgrade.orders.scheduled_start
    end    = hwrds_db_minor_upgrade.orders.scheduled_end
    status = hwrds_db_minor_upgrade.orders.status
  }
}
