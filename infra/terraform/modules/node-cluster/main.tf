# "Cluster NAME with N nodes": the cluster, one join token for its nodes,
# and per node the config file, systemd unit and cloud-init document that
# start `strata node --config /etc/strata/node.conf` on a fresh machine.

resource "strata_cluster" "this" {
  name               = var.name
  partition_id       = var.partition_id
  dns_disabled       = var.dns_disabled
  parent_cluster_ids = var.parent_cluster_ids
}

resource "strata_join_token" "this" {
  cluster_id   = strata_cluster.this.id
  auto_approve = var.auto_approve
  staging      = var.staging
  ttl_seconds  = var.token_ttl_seconds
  description  = "terraform node-cluster ${var.name}"
}

locals {
  prefix = var.node_name_prefix != "" ? var.node_name_prefix : var.name
  unit   = file("${path.module}/strata-node.service")
  nodes = [for i in range(var.node_count) : {
    name = "${local.prefix}-${i + 1}"
    # "key = value" lines with Go-quoted values (strata node --config).
    config = join("", [for k, v in merge({
      "api"        = var.api_url
      "join-token" = strata_join_token.this.token
      "name"       = "${local.prefix}-${i + 1}"
      "data"       = var.data_dir
    }, var.node_flags) : "${k} = ${jsonencode(v)}\n"])
  }]
  download = var.strata_binary_url == "" ? [] : [
    ["curl", "-fsSLo", "/usr/local/bin/strata", var.strata_binary_url],
    ["chmod", "0755", "/usr/local/bin/strata"],
  ]
}
