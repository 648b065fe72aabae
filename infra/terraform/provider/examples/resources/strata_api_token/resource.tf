resource "strata_api_token" "ci" {
  user        = strata_user.ci.name
  description = "pipeline"
  ttl_seconds = 86400
}
