# Two edge nodes on Google Compute Engine: cloud-init reads the module's
# document from the user-data metadata key (Ubuntu images run cloud-init).
terraform {
  required_providers {
    strata = { source = "strata-edge/strata" }
    google = { source = "hashicorp/google", version = "~> 6.0" }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

variable "project" {}
variable "region" { default = "europe-west3" }
variable "node_count" { default = 2 }
variable "api_url" { description = "The control plane's API URL as the nodes reach it." }
variable "strata_binary_url" { description = "Where cloud-init downloads the strata binary from." }

resource "strata_partition" "edge" { name = "gcp" }

module "cluster" {
  source            = "../../node-cluster"
  name              = "gcp-${var.region}"
  partition_id      = strata_partition.edge.id
  node_count        = var.node_count
  api_url           = var.api_url
  strata_binary_url = var.strata_binary_url
  node_flags        = { "http-addr" = "0.0.0.0:80", "https-addr" = "0.0.0.0:443" }
}

resource "google_compute_firewall" "edge" {
  name          = "strata-edge"
  network       = "default"
  source_ranges = ["0.0.0.0/0"]
  target_tags   = ["strata-edge"]
  allow {
    protocol = "tcp"
    ports    = ["80", "443"]
  }
}

resource "google_compute_instance" "node" {
  count        = var.node_count
  name         = module.cluster.nodes[count.index].name
  machine_type = "e2-small"
  zone         = "${var.region}-a"
  tags         = ["strata-edge"]
  boot_disk {
    initialize_params { image = "ubuntu-os-cloud/ubuntu-2404-lts-amd64" }
  }
  network_interface {
    network = "default"
    access_config {}
  }
  metadata = { user-data = module.cluster.nodes[count.index].cloud_init }
}
