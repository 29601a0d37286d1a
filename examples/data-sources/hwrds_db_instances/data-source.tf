# Every ACTIVE MySQL instance whose name starts with "prod-".
data "hwrds_db_instances" "prod_mysql" {
  engine      = "MySQL"
  name_prefix = "prod-"
  status      = "ACTIVE"
}

output "prod_mysql_versions" {
  value = {
    for i in data.hwrds_db_instances.prod_mysql.instances :
    i.name => "${i.complete_version} (latest ${coalesce(i.latest_version, "unknown")})"
  }
}
