variable "name" {
  description = "Cluster name (unique)."
  type        = string
}

variable "partition_id" {
  description = "Id of the partition the cluster serves (strata_partition.x.id)."
  type        = string
}

variable "node_count" {
  description = "Number of nodes: one config, cloud-init document and unit each."
  type        = number
  validation {
    condition     = var.node_count >= 0 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number, 0 or more."
  }
}

variable "api_url" {
  description = "URL the nodes reach the control plane's API at (their --api), e.g. https://control.example:7400."
  type        = string
}

variable "node_name_prefix" {
  description = "Nodes are named PREFIX-1 ... PREFIX-N; default: the cluster name."
  type        = string
  default     = ""
}

variable "auto_approve" {
  description = "Nodes joining with the token are approved at once (else: strata node approve)."
  type        = bool
  default     = true
}

variable "staging" {
  description = "The nodes follow the staging track."
  type        = bool
  default     = false
}

variable "token_ttl_seconds" {
  description = "Lifetime of the join token (at most 30 days). A node needs it on its first start only; restarts reuse its data directory."
  type        = number
  default     = 86400
}

variable "dns_disabled" {
  description = "The cluster's nodes do not answer DNS."
  type        = bool
  default     = false
}

variable "parent_cluster_ids" {
  description = "Parent clusters for tiered caching, in order."
  type        = list(string)
  default     = []
}

variable "data_dir" {
  description = "The node's data directory (the unit's StateDirectory is /var/lib/strata-node)."
  type        = string
  default     = "/var/lib/strata-node"
}

variable "node_flags" {
  description = "More flags of strata node for every node, without -- (e.g. { \"http-addr\" = \"0.0.0.0:80\", \"https-addr\" = \"0.0.0.0:443\" })."
  type        = map(string)
  default     = {}
}

variable "strata_binary_url" {
  description = "When set, cloud-init downloads the strata binary from here to /usr/local/bin/strata; else the image must have it."
  type        = string
  default     = ""
}
