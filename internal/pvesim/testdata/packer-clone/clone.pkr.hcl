# The smallest proxmox-clone build: clone a base VM, convert it to a
# template. No guest boots in the simulator, so communicator = "none".
# The connection comes from PROXMOX_URL, PROXMOX_USERNAME and PROXMOX_TOKEN
# in the environment (the plugin's own defaults); TLS is verified against
# the simulator's CA through SSL_CERT_FILE.
packer {
  required_plugins {
    proxmox = {
      version = ">= 1.1.1"
      source  = "github.com/hashicorp/proxmox"
    }
  }
}

variable "vm_id" {
  type = number
}

source "proxmox-clone" "sim" {
  node          = "pve1"
  clone_vm      = "base-ubuntu-22.04"
  full_clone    = true
  vm_id         = var.vm_id
  template_name = "tpl-packer-test"
  communicator  = "none"
  task_timeout  = "2m"
}

build {
  sources = ["source.proxmox-clone.sim"]
}
