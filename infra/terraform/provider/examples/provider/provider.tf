provider "strata" {
  api   = "http://127.0.0.1:7400" # or STRATA_API
  token = var.strata_token        # or STRATA_TOKEN
}
