resource "strata_partition" "eu" {
  name = "ex-eu"
}
