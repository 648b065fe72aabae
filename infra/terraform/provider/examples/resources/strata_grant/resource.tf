resource "strata_grant" "ops" {
  group      = strata_group.ops.name
  role       = "viewer"
  scope_kind = "all"
}
