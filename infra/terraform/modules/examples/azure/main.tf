# Two edge nodes on Azure: the module's cloud-init document is the VMs'
# custom_data (Ubuntu images run cloud-init).
terraform {
  required_providers {
    strata  = { source = "strata-edge/strata" }
    azurerm = { source = "hashicorp/azurerm", version = "~> 4.0" }
  }
}

provider "azurerm" {
  features {}
}

variable "location" { default = "germanywestcentral" }
variable "node_count" { default = 2 }
variable "api_url" { description = "The control plane's API URL as the nodes reach it." }
variable "strata_binary_url" { description = "Where cloud-init downloads the strata binary from." }
variable "ssh_public_key" {}

resource "strata_partition" "edge" { name = "azure" }

module "cluster" {
  source            = "../../node-cluster"
  name              = "azure-${var.location}"
  partition_id      = strata_partition.edge.id
  node_count        = var.node_count
  api_url           = var.api_url
  strata_binary_url = var.strata_binary_url
  node_flags        = { "http-addr" = "0.0.0.0:80", "https-addr" = "0.0.0.0:443" }
}

resource "azurerm_resource_group" "edge" {
  name     = "strata-edge"
  location = var.location
}

resource "azurerm_virtual_network" "edge" {
  name                = "strata-edge"
  address_space       = ["10.20.0.0/16"]
  location            = azurerm_resource_group.edge.location
  resource_group_name = azurerm_resource_group.edge.name
}

resource "azurerm_subnet" "edge" {
  name                 = "nodes"
  resource_group_name  = azurerm_resource_group.edge.name
  virtual_network_name = azurerm_virtual_network.edge.name
  address_prefixes     = ["10.20.1.0/24"]
}

resource "azurerm_public_ip" "node" {
  count               = var.node_count
  name                = module.cluster.nodes[count.index].name
  location            = azurerm_resource_group.edge.location
  resource_group_name = azurerm_resource_group.edge.name
  allocation_method   = "Static"
}

resource "azurerm_network_interface" "node" {
  count               = var.node_count
  name                = module.cluster.nodes[count.index].name
  location            = azurerm_resource_group.edge.location
  resource_group_name = azurerm_resource_group.edge.name
  ip_configuration {
    name                          = "public"
    subnet_id                     = azurerm_subnet.edge.id
    private_ip_address_allocation = "Dynamic"
    public_ip_address_id          = azurerm_public_ip.node[count.index].id
  }
}

resource "azurerm_linux_virtual_machine" "node" {
  count                 = var.node_count
  name                  = module.cluster.nodes[count.index].name
  location              = azurerm_resource_group.edge.location
  resource_group_name   = azurerm_resource_group.edge.name
  size                  = "Standard_B2s"
  admin_username        = "strata"
  network_interface_ids = [azurerm_network_interface.node[count.index].id]
  custom_data           = base64encode(module.cluster.nodes[count.index].cloud_init)
  admin_ssh_key {
    username   = "strata"
    public_key = var.ssh_public_key
  }
  os_disk {
    caching              = "ReadWrite"
    storage_account_type = "Standard_LRS"
  }
  source_image_reference {
    publisher = "Canonical"
    offer     = "ubuntu-24_04-lts"
    sku       = "server"
    version   = "latest"
  }
}
