# Values derived from the variables, shared by both build modes and both
# plugin generations.

local "build_password" {
  expression = var.build_password != "" ? var.build_password : uuidv4()
  sensitive  = true
}

locals {
  template_name = var.template_name != "" ? var.template_name : "tpl-${var.os_slug}"
  build_id      = var.build_id != "" ? var.build_id : "manual-${formatdate("YYYYMMDD'T'hhmmss'Z'", timestamp())}"
  description = var.template_description != "" ? var.template_description : join(" ", [
    "${var.os_slug} (${var.build_mode} build) by Packer,",
    "build ${local.build_id}",
  ])
  communicator = var.communicator != "" ? var.communicator : var.os_communicator
  iso_file     = "${var.iso_storage}:iso/${var.iso_filename}"
  extra_isos   = [for f in var.extra_iso_files : "${var.iso_storage}:iso/${f}"]

  # Every source of build.pkr.hcl, for provisioners' except lists.
  sources = ["proxmox-iso.template", "proxmox-clone.template"]
  # Provisioners need a communicator; with "none" (simulated clusters)
  # nothing can run inside the guest.
  provision_linux   = local.communicator != "none" && var.os_family == "linux"
  provision_windows = local.communicator != "none" && var.os_family == "windows"

  # Installer answer files of the OS directory, rendered with the build
  # account: http/<name>.pkrtpl is served as /<name> by Packer's HTTP server,
  # cd/<name>.pkrtpl goes on a CD (Windows reads Autounattend.xml from it).
  answer_vars = {
    username      = var.os_family == "windows" ? var.winrm_username : var.ssh_username
    password      = local.build_password
    password_hash = bcrypt(local.build_password)
    hostname      = local.template_name
  }
  http_content = {
    for f in fileset(path.root, "http/*.pkrtpl") :
    "/${trimsuffix(basename(f), ".pkrtpl")}" => templatefile("${path.root}/${f}", local.answer_vars)
  }
  cd_content = {
    for f in fileset(path.root, "cd/*.pkrtpl") :
    trimsuffix(basename(f), ".pkrtpl") => templatefile("${path.root}/${f}", local.answer_vars)
  }
}
