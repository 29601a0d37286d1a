data "hwrds_db_instance" "orders" {
  name = "orders"
}

# Upgrades "orders" to the latest minor version of its engine now, and again whenever a
# newer minor version appears (triggers changes -> a new upgrade).
resource "hwrds_db_minor_upgrade" "orders" {
  instance_id   = data.hwrds_db_instance.orders.id
  is_delayed    = false # true: run in the instance's maintenance window (MySQL only)
  second_switch = true  # MySQL primary/standby: switch back so the AZs stay put
  triggers = {
    minor = data.hwrds_db_instance.orders.latest_version
  }
  timeouts {
    create = "90m"
  }
}

output "orders_upgrade" {
  value = "${hwrds_db_minor_upgrade.orders.version_before} -> ${hwrds_db_minor_upgrade.orders.version_after} (${hwrds_db_minor_upgrade.orders.status})"
}
