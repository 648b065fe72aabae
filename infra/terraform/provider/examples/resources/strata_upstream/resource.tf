resource "strata_upstream" "origin" {
  app_id       = strata_app.shop.id
  name         = "origin"
  policy       = "least_connections"
  servers      = [{ address = "10.0.0.10:8080", weight = 1 }, { address = "10.0.0.11:8080", weight = 1 }]
  health_check = { enabled = true, path = "/healthz", interval_ms = 5000, timeout_ms = 1000 }
}
