resource "strata_rule" "api" {
  app_id  = strata_app.shop.id
  name    = "api"
  when    = "PathPrefix(\"/api\")"
  after   = "" # first
  actions = [{ proxy = { upstreams = [{ upstream = strata_upstream.origin.name, weight = 1 }] } }]
}
