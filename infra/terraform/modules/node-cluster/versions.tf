terraform {
  required_version = ">= 1.5"
  required_providers {
    strata = { source = "strata-edge/strata" }
  }
}
