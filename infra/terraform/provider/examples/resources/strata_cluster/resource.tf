resource "strata_cluster" "edge" {
  name         = "ex-eu-edge"
  partition_id = strata_partition.eu.id
}
