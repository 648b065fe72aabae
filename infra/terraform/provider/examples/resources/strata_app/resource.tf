resource "strata_app" "shop" {
  name           = "ex-shop"
  domains        = ["shop.ex.example"]
  http_ports     = [80]
  https_ports    = [443]
  partition_ids  = [strata_partition.eu.id]
  https_redirect = true
  labels         = { team = "web" }
}
