# Plugin generation v1.2 (packer-plugin-proxmox 1.2.0 and later, what people
# install today): only what differs from gen/v1.1; build.pkr.hcl adds the rest.
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
  tags = var.tags

  boot_iso {
    type         = "ide"
    index        = 2
    iso_file     = local.iso_file
    iso_checksum = var.iso_checksum
    unmount      = true
  }

  disks {
    type         = "scsi"
    storage_pool = var.storage
    disk_size    = var.disk_size
    format       = "raw"
    cache_mode   = "none"
    io_thread    = true
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
}

source "proxmox-clone" "template" {
  tags = var.tags

  # The clone keeps the base VM's disk; cloud-init's growpart grows the root
  # file system when a clone of the template gets a bigger disk.
  clone_vm   = var.clone_vm
  full_clone = true
}
