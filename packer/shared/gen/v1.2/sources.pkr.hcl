# Plugin generation v1.2 (packer-plugin-proxmox 1.2.0 and later, what people
# install today). Differences from gen/v1.1, and nothing else:
#   - disks have no storage_pool_type;
#   - the installer ISO is a boot_iso block;
#   - additional_iso_files name their drive with type and index;
#   - tags are applied.
# Not buildable here (the Go module proxy serves the plugin up to v1.1.1):
# checked by `packer fmt -check` and parsed in internal/workspace's tests.

packer {
  required_version = ">= 1.10.0"
  required_plugins {
    proxmox = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/proxmox"
    }
  }
}

locals {
  plugin_generation = "v1.2"
}

source "proxmox-iso" "template" {
  proxmox_url              = var.proxmox_url
  username                 = var.proxmox_token_id
  token                    = var.proxmox_token_secret
  insecure_skip_tls_verify = var.proxmox_insecure_skip_tls_verify
  node                     = var.node
  task_timeout             = var.task_timeout

  vm_id                = var.vm_id
  template_name        = local.template_name
  template_description = local.description
  tags                 = var.tags

  os              = var.os_type
  cores           = var.cores
  sockets         = 1
  memory          = var.memory
  cpu_type        = var.cpu_type
  scsi_controller = "virtio-scsi-single"
  qemu_agent      = true

  network_adapters {
    model    = "virtio"
    bridge   = var.network_bridge
    firewall = true
  }

  disks {
    type         = "scsi"
    storage_pool = var.storage
    disk_size    = var.disk_size
    format       = "raw"
    cache_mode   = "none"
    io_thread    = true
  }

  cloud_init              = true
  cloud_init_storage_pool = var.storage

  boot_iso {
    type         = "ide"
    index        = 2
    iso_file     = local.iso_file
    iso_checksum = var.iso_checksum
    unmount      = true
  }

  dynamic "additional_iso_files" {
    for_each = length(local.cd_content) > 0 ? [local.cd_content] : []
    content {
      type             = "sata"
      index            = 0
      cd_content       = additional_iso_files.value
      cd_label         = "ANSWERS"
      iso_storage_pool = var.iso_storage
      unmount          = true
    }
  }

  dynamic "additional_iso_files" {
    for_each = local.extra_isos
    content {
      type     = "sata"
      index    = additional_iso_files.key + 1
      iso_file = additional_iso_files.value
      unmount  = true
    }
  }

  http_content = local.http_content
  boot_wait    = var.boot_wait
  boot_command = var.boot_command

  communicator   = local.communicator
  ssh_username   = var.ssh_username
  ssh_password   = local.build_password
  ssh_timeout    = var.install_timeout
  winrm_username = var.winrm_username
  winrm_password = local.build_password
  winrm_timeout  = var.install_timeout
}

source "proxmox-clone" "template" {
  proxmox_url              = var.proxmox_url
  username                 = var.proxmox_token_id
  token                    = var.proxmox_token_secret
  insecure_skip_tls_verify = var.proxmox_insecure_skip_tls_verify
  node                     = var.node
  task_timeout             = var.task_timeout

  vm_id                = var.vm_id
  template_name        = local.template_name
  template_description = local.description
  tags                 = var.tags

  clone_vm   = var.clone_vm
  full_clone = true

  os              = var.os_type
  cores           = var.cores
  sockets         = 1
  memory          = var.memory
  cpu_type        = var.cpu_type
  scsi_controller = "virtio-scsi-single"
  qemu_agent      = true

  network_adapters {
    model    = "virtio"
    bridge   = var.network_bridge
    firewall = true
  }

  cloud_init              = true
  cloud_init_storage_pool = var.storage

  # The clone keeps the base VM's disk; cloud-init's growpart grows the root
  # file system when a clone of the template gets a bigger disk.
  communicator   = local.communicator
  ssh_username   = var.ssh_username
  ssh_timeout    = var.install_timeout
  winrm_username = var.winrm_username
  winrm_password = local.build_password
  winrm_timeout  = var.install_timeout
}
