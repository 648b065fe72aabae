resource "strata_dns_record" "www" {
  zone_id = strata_dns_zone.ex.id
  name    = "www"
  type    = "A"
  ttl     = 60
  data    = "192.0.2.10"
}

# Answers with the healthy online nodes of a cluster.
resource "strata_dns_record" "shop" {
  zone_id         = strata_dns_zone.ex.id
  name            = "shop"
  type            = "A"
  gateway_cluster = strata_cluster.edge.name
}
