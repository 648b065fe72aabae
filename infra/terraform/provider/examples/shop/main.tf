# An app with an upstream and two ordered rules, a DNS zone with a record,
# each released by a strata_release. Run against `strata dev`:
#   export STRATA_API=http://127.0.0.1:PORT STRATA_TOKEN=$(cat .data/admin.token)
# with a dev_overrides block pointing at a built terraform-provider-strata
# (docs/terraform.md).
terraform {
  required_providers {
    strata = { source = "strata-edge/strata" }
  }
}

provider "strata" {} # api and token from STRATA_API / STRATA_TOKEN

resource "strata_partition" "eu" {
  name = "eu"
}

resource "strata_cluster" "shield" {
  name         = "eu-shield"
  partition_id = strata_partition.eu.id
  dns_disabled = true
}

resource "strata_cluster" "edge" {
  name               = "eu-edge"
  partition_id       = strata_partition.eu.id
  parent_cluster_ids = [strata_cluster.shield.id]
}

resource "strata_app" "shop" {
  name           = "shop"
  domains        = ["shop.example.com"]
  https_ports    = [443]
  http_ports     = [80]
  partition_ids  = [strata_partition.eu.id]
  https_redirect = true
  hsts           = { max_age_seconds = 31536000 }
  labels         = { team = "web" }
}

resource "strata_upstream" "origin" {
  app_id       = strata_app.shop.id
  name         = "origin"
  policy       = "least_connections"
  servers      = [{ address = "10.0.0.10:8080", weight = 1 }, { address = "10.0.0.11:8080", weight = 1 }]
  health_check = { enabled = true, path = "/healthz", interval_ms = 5000, timeout_ms = 1000 }
}

resource "strata_rule" "api" {
  app_id  = strata_app.shop.id
  name    = "api"
  when    = "PathPrefix(\"/api\")"
  after   = "" # first
  actions = [{ proxy = { upstreams = [{ upstream = strata_upstream.origin.name, weight = 1 }] } }]
}

resource "strata_rule" "static" {
  app_id = strata_app.shop.id
  name   = "static"
  after  = strata_rule.api.id
  actions = [
    { cache = { ttl_s = 3600 } },
    { proxy = { upstreams = [{ upstream = strata_upstream.origin.name, weight = 1 }] } },
  ]
}

resource "strata_release" "shop" {
  app_id     = strata_app.shop.id
  note       = "terraform apply"
  depends_on = [strata_upstream.origin, strata_rule.api, strata_rule.static]
  lifecycle {
    replace_triggered_by = [strata_app.shop, strata_upstream.origin, strata_rule.api, strata_rule.static]
  }
}

resource "strata_dns_zone" "example" {
  name          = "example.com"
  partition_ids = [strata_partition.eu.id]
  nameservers   = ["ns1.example.com."]
  soa           = { rname = "hostmaster.example.com." }
}

resource "strata_dns_record" "shop" {
  zone_id = strata_dns_zone.example.id
  name    = "shop"
  type    = "A"
  ttl     = 300
  data    = "192.0.2.10"
}

resource "strata_release" "example" {
  zone_id    = strata_dns_zone.example.id
  note       = "terraform apply"
  depends_on = [strata_dns_record.shop]
  lifecycle {
    replace_triggered_by = [strata_dns_zone.example, strata_dns_record.shop]
  }
}
