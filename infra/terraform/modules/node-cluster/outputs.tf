output "cluster_id" {
  description = "Id of the cluster."
  value       = strata_cluster.this.id
}

output "join_token" {
  description = "The nodes' join token (ID.SECRET)."
  value       = strata_join_token.this.token
  sensitive   = true
}

output "systemd_unit" {
  description = "The unit every node runs (the same as infra/systemd/strata-node.service)."
  value       = local.unit
}

output "nodes" {
  description = "Per node: name, config (/etc/strata/node.conf) and cloud_init (a #cloud-config user-data document writing the config and the unit and starting it)."
  sensitive   = true
  value = [for n in local.nodes : {
    name   = n.name
    config = n.config
    cloud_init = "#cloud-config\n${yamlencode({
      write_files = [
        { path = "/etc/strata/node.conf", permissions = "0600", owner = "root:root", content = n.config },
        { path = "/etc/systemd/system/strata-node.service", permissions = "0644", owner = "root:root", content = local.unit },
      ]
      runcmd = concat(local.download, [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "strata-node.service"],
      ])
    })}"
  }]
}
