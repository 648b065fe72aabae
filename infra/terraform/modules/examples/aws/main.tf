# Two edge nodes on AWS EC2: the node-cluster module makes the cluster, its
# join token and each node's cloud-init user data.
terraform {
  required_providers {
    strata = { source = "strata-edge/strata" }
    aws    = { source = "hashicorp/aws", version = "~> 5.0" }
  }
}

provider "aws" { region = var.region }

variable "region" { default = "eu-central-1" }
variable "node_count" { default = 2 }
variable "api_url" { description = "The control plane's API URL as the nodes reach it." }
variable "ami" { description = "An image with cloud-init and systemd (Debian, Ubuntu)." }
variable "strata_binary_url" { description = "Where cloud-init downloads the strata binary from." }

resource "strata_partition" "edge" { name = "aws" }

module "fra" {
  source            = "../../node-cluster"
  name              = "aws-${var.region}"
  partition_id      = strata_partition.edge.id
  node_count        = var.node_count
  api_url           = var.api_url
  strata_binary_url = var.strata_binary_url
  node_flags        = { "http-addr" = "0.0.0.0:80", "https-addr" = "0.0.0.0:443" }
}

resource "aws_security_group" "edge" {
  name = "strata-edge"
  dynamic "ingress" {
    for_each = [80, 443]
    content {
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = ["0.0.0.0/0"]
    }
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_instance" "node" {
  count                       = var.node_count
  ami                         = var.ami
  instance_type               = "t3.small"
  vpc_security_group_ids      = [aws_security_group.edge.id]
  user_data                   = module.fra.nodes[count.index].cloud_init
  user_data_replace_on_change = true
  tags                        = { Name = module.fra.nodes[count.index].name }
}
