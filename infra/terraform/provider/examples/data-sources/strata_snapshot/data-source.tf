data "strata_snapshot" "eu" {
  partition = strata_partition.eu.name
}
