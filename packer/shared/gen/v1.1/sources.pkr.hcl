# Plugin generation v1.1 (packer-plugin-proxmox 1.1.0 - 1.1.2; CI builds with
# 1.1.1): only what differs from gen/v1.2; build.pkr.hcl adds the rest.
#   - disks set storage_pool_type (1.1.3 and later only warn that it is deprecated);
#   - the installer ISO is given by top-level iso_file/iso_checksum/unmount_iso;
#   - additional_iso_files name their drive with device = "sata0";
#   - an answer CD templated uploaded (answer_iso) replaces cd_content, which
#     1.1.1 cannot upload without breaking the requests after it;
#   - there are no tags (templated stamps tags through the API afterwards).

packer {
  required_version = ">= 1.10.0"
  required_plugins {
    proxmox = {
      version = ">= 1.1.1, < 1.2.0"
      source  = "github.com/hashicorp/proxmox"
    }
  }
}

locals {
  plugin_generation = "v1.1"
}

source "proxmox-iso" "template" {
  iso_file     = local.iso_file
  iso_checksum = var.iso_checksum
  unmount_iso  = true

  disks {
    type              = "scsi"
    storage_pool      = var.storage
    storage_pool_type = var.storage_type
    disk_size         = var.disk_size
    format            = "raw"
    cache_mode        = "none"
    io_thread         = true
  }

  # The answer CD: Packer makes and uploads it from cd_content, unless
  # templated uploaded it already (answer_iso), which plugin 1.1.1 needs:
  # after an upload its API library sends every request as multipart, and
  # PVE refuses creating the VM (packer-plugin-proxmox#150).
  dynamic "additional_iso_files" {
    for_each = var.answer_iso == "" && length(local.cd_content) > 0 ? [local.cd_content] : []
    content {
      device           = "sata0"
      cd_content       = additional_iso_files.value
      cd_label         = "ANSWERS"
      iso_storage_pool = var.iso_storage
      unmount          = true
    }
  }

  dynamic "additional_iso_files" {
    for_each = var.answer_iso != "" ? [var.answer_iso] : []
    content {
      device   = "sata0"
      iso_file = additional_iso_files.value
      unmount  = true
    }
  }

  dynamic "additional_iso_files" {
    for_each = local.extra_isos
    content {
      device   = "sata${additional_iso_files.key + 1}"
      iso_file = additional_iso_files.value
      unmount  = true
    }
  }
}

source "proxmox-clone" "template" {
  # The clone keeps the base VM's disk; cloud-init's growpart grows the root
  # file system when a clone of the template gets a bigger disk.
  clone_vm   = var.clone_vm
  full_clone = true
}
