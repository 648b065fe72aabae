resource "strata_user" "ci" {
  name = "ex-ci"
  kind = "service_account"
}
