resource "strata_dns_zone" "ex" {
  name          = "ex.example"
  partition_ids = [strata_partition.eu.id]
  nameservers   = ["ns1.ex.example."]
}
