# upgrades.tfquery.hcl, next to the configuration that declares the hwrds provider:
#   terraform query
#   terraform query -generate-config-out=upgrades.tf
list "hwrds_db_minor_upgrade" "console" {
  provider = hwrds

  config {
    status = "Completed"
  }
}
