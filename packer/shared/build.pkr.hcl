# The one build every OS uses. The sources live in the plugin generation
# file (gen/<generation>/sources.pkr.hcl) copied next to this file when the
# build directory is assembled; var.build_mode picks one of them.

build {
  name    = "template"
  sources = var.build_mode == "clone" ? ["source.proxmox-clone.template"] : ["source.proxmox-iso.template"]

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
