# By exact name (or by id: id = "...").
data "hwrds_db_instance" "orders" {
  name = "orders"
}

output "orders" {
  value = {
    engine            = data.hwrds_db_instance.orders.engine
    runs              = data.hwrds_db_instance.orders.complete_version
    latest            = data.hwrds_db_instance.orders.latest_version
    up_to_date        = data.hwrds_db_instance.orders.up_to_date
    upgrade_available = data.hwrds_db_instance.orders.upgrade_available
    blockers          = data.hwrds_db_instance.orders.upgrade_blockers
  }
}
