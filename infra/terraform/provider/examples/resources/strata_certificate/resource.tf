# A managed certificate, requested from an ACME directory for the app's domain
# (or upload one: chain_pem and key_pem instead of domains).
resource "strata_certificate" "shop" {
  name           = "ex-shop"
  domains        = ["shop.ex.example"]
  app_ids        = [strata_app.shop.id]
  acme_directory = var.acme_directory
}
