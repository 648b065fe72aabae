# Releases the app's pending changes whenever one of its objects changes.
resource "strata_release" "shop" {
  app_id     = strata_app.shop.id
  note       = "terraform apply"
  depends_on = [strata_upstream.origin, strata_rule.api]
  lifecycle {
    replace_triggered_by = [strata_app.shop, strata_upstream.origin, strata_rule.api]
  }
}
