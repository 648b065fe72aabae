data "strata_nodes" "edge" {
  cluster = strata_cluster.edge.name
}
