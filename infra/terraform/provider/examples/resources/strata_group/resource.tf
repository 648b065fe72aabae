resource "strata_group" "ops" {
  name        = "ex-ops"
  description = "operators"
  members     = [strata_user.ci.name]
}
