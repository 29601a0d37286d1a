terraform {
  required_providers {
    hwrds = {
      source = "hwrds/hwrds"
    }
  }
}

# Credentials from the environment (HW_ACCESS_KEY, HW_SECRET_KEY and, for temporary
# credentials, HW_SECURITY_TOKEN); only the region is set here.
provider "hwrds" {
  region = "ap-southeast-1"
}
