resource "strata_join_token" "edge" {
  cluster_id   = strata_cluster.edge.id
  auto_approve = true
  description  = "edge nodes of ex-eu"
  ttl_seconds  = 3600
}
