# A known upgrade job: <instance_id>/<job_id>
terraform import hwrds_db_minor_upgrade.orders 5a1d0b9e1c2f4e8b9a7d6c5b4a3f2e1din01/0f8b6a2e-7d4c-4b1a-9e3f-2c1d0b9a8e7f

# The instance's most recent upgrade job: <instance_id>
terraform import hwrds_db_minor_upgrade.orders 5a1d0b9e1c2f4e8b9a7d6c5b4a3f2e1din01
