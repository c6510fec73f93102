# The one build every OS uses. var.build_mode picks the source; the
# settings both plugin generations share are here, merged into the source
# blocks of the generation file (gen/<generation>/sources.pkr.hcl, copied
# next to this file when the build directory is assembled), which hold only
# what differs between plugin generations.

build {
  name = "template"

  dynamic "source" {
    for_each = [var.build_mode == "clone" ? "proxmox-clone" : "proxmox-iso"]
    iterator = builder
    labels   = ["source.${builder.value}.template"]
    content {
      proxmox_url              = var.proxmox_url
      username                 = var.proxmox_token_id
      token                    = var.proxmox_token_secret
      insecure_skip_tls_verify = var.proxmox_insecure_skip_tls_verify
      node                     = var.node
      task_timeout             = var.task_timeout

      vm_id                = var.vm_id
      vm_name              = local.template_name # from creation on: the staging name claims the VM for its build
      template_name        = local.template_name
      template_description = local.description

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

      # The installer answers: Linux from Packer's HTTP server, Windows
      # from a CD (the generation file attaches it). Clones boot their
      # cloud image and need neither; their SSH key comes from the plugin.
      http_content = builder.value == "proxmox-iso" ? local.http_content : {}
      boot_wait    = builder.value == "proxmox-iso" ? var.boot_wait : null
      boot_command = builder.value == "proxmox-iso" ? var.boot_command : []

      communicator   = local.communicator
      ssh_username   = var.ssh_username
      ssh_password   = builder.value == "proxmox-iso" ? local.build_password : null
      ssh_timeout    = var.install_timeout
      winrm_username = var.winrm_username
      winrm_password = local.build_password
      winrm_timeout  = var.install_timeout
    }
  }

  # Linux: package upgrades, then seal (cloud-init clean, machine-id reset,
  # SSH host keys and the build account's keys removed).
  provisioner "shell" {
    except            = local.provision_linux ? [] : local.sources
    execute_command   = "chmod +x {{ .Path }}; sudo -E {{ .Vars }} {{ .Path }}"
    environment_vars  = ["BUILD_USER=${var.ssh_username}", "BUILD_MODE=${var.build_mode}"]
    expect_disconnect = true
    scripts = [
      "${path.root}/scripts/linux/update.sh",
      "${path.root}/scripts/linux/cleanup.sh",
    ]
  }

  # Windows: updates, a restart, then clean-up and sysprep.
  provisioner "powershell" {
    except = local.provision_windows ? [] : local.sources
    scripts = [
      "${path.root}/scripts/windows/update.ps1",
    ]
  }

  provisioner "windows-restart" {
    except          = local.provision_windows ? [] : local.sources
    restart_timeout = "30m"
  }

  provisioner "powershell" {
    except = local.provision_windows ? [] : local.sources
    scripts = [
      "${path.root}/scripts/windows/cleanup.ps1",
    ]
  }

  # What the workspace writes back to templated.
  post-processor "manifest" {
    output     = var.manifest_path
    strip_path = true
    custom_data = {
      build_id          = local.build_id
      template_name     = local.template_name
      vm_id             = "${var.vm_id}"
      node              = var.node
      build_mode        = var.build_mode
      os                = var.os_slug
      base              = var.build_mode == "clone" ? var.clone_vm : local.iso_file
      iso_checksum      = var.iso_checksum
      plugin_generation = local.plugin_generation
      communicator      = local.communicator
    }
  }
}
