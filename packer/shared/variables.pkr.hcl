# Variables of the shared build. packer/README.md is the contract: which of
# these templated sets, which come from the environment, which an OS var
# file (linux/*/*.pkrvars.hcl, windows/*/*.pkrvars.hcl) sets.

# --- Connection: from the environment (.env), never the command line -----

variable "proxmox_url" {
  type        = string
  default     = env("PROXMOX_URL")
  description = "Proxmox API URL, https://host:8006/api2/json (PROXMOX_URL)."
}

variable "proxmox_token_id" {
  type        = string
  default     = env("PROXMOX_TOKEN_ID")
  description = "API token id, USER@REALM!TOKENID (PROXMOX_TOKEN_ID)."
}

variable "proxmox_token_secret" {
  type        = string
  default     = env("PROXMOX_TOKEN_SECRET")
  sensitive   = true
  description = "API token secret (PROXMOX_TOKEN_SECRET or PKR_VAR_proxmox_token_secret)."
}

variable "proxmox_insecure_skip_tls_verify" {
  type        = bool
  default     = env("PROXMOX_INSECURE_SKIP_TLS_VERIFY") == "true"
  description = "Skip TLS verification. Prefer PROXMOX_CA_FILE (exported as SSL_CERT_FILE)."
}

# --- Placement and identity: set by templated from desired/templates.yaml --

variable "node" {
  type    = string
  default = env("PROXMOX_NODE")
}

variable "storage" {
  type        = string
  default     = env("PROXMOX_STORAGE")
  description = "Storage for the disk and the cloud-init drive (local-lvm)."
}

variable "storage_type" {
  type        = string
  default     = "lvm-thin"
  description = "Type of var.storage. Only plugin generation v1.1 needs it (disks.storage_pool_type)."
}

variable "iso_storage" {
  type        = string
  default     = env("PROXMOX_ISO_STORAGE")
  description = "Storage holding installer ISOs and receiving generated CDs (local)."
}

variable "vm_id" {
  type        = number
  default     = 0
  description = "VMID of the build VM and so of the template. 0: the next free ID."
}

variable "template_name" {
  type        = string
  default     = ""
  description = "Name of the template. Empty: tpl-<os_slug>."
}

variable "template_description" {
  type    = string
  default = ""
}

variable "tags" {
  type        = string
  default     = ""
  description = "Proxmox tags, ';'-separated. Applied by plugin generation v1.2; v1.1 has no tags."
}

variable "build_id" {
  type        = string
  default     = ""
  description = "Identifier of this build, written to the manifest's custom_data. Empty: a timestamp."
}

variable "build_mode" {
  type        = string
  default     = "iso"
  description = "iso: proxmox-iso from the installer ISO; clone: proxmox-clone from var.clone_vm."

  validation {
    condition     = contains(["iso", "clone"], var.build_mode)
    error_message = "The build_mode must be \"iso\" or \"clone\"."
  }
}

variable "manifest_path" {
  type        = string
  default     = "manifest.json"
  description = "Where the manifest post-processor writes (relative to the build directory)."
}

variable "communicator" {
  type        = string
  default     = ""
  description = "Override of var.os_communicator; \"none\" skips the provisioners (simulated clusters)."

  validation {
    condition     = contains(["", "none", "ssh", "winrm"], var.communicator)
    error_message = "The communicator must be \"none\", \"ssh\" or \"winrm\" (or empty for the OS default)."
  }
}

variable "build_password" {
  type        = string
  default     = ""
  sensitive   = true
  description = "Password of the temporary build account (ISO builds). Empty: a random one per build."
}

variable "answer_iso" {
  type        = string
  default     = ""
  description = "ISO volume (storage:iso/file.iso) holding the rendered cd/ answer files, uploaded by templated; attached instead of Packer making the answer CD (cd_content). Empty: Packer makes and uploads it."

  validation {
    condition     = var.answer_iso == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]*:iso/[^/]+\\.iso$", var.answer_iso))
    error_message = "The answer_iso must be an ISO volume id such as \"local:iso/answers.iso\"."
  }
}

variable "task_timeout" {
  type    = string
  default = "10m"
}

# --- Hardware: set by templated -------------------------------------------

variable "cores" {
  type    = number
  default = 2
}

variable "memory" {
  type        = number
  default     = 2048
  description = "Memory in MiB."
}

variable "disk_size" {
  type        = string
  default     = "20G"
  description = "Size of the system disk of ISO builds (clones keep the base VM's disk)."

  validation {
    condition     = can(regex("^[1-9][0-9]*G$", var.disk_size))
    error_message = "The disk_size must be a whole number of GiB such as \"20G\"."
  }
}

variable "cpu_type" {
  type    = string
  default = "x86-64-v2-AES"
}

variable "network_bridge" {
  type    = string
  default = "vmbr0"
}

# --- Operating system: set by the OS var file -------------------------------

variable "os_family" {
  type = string

  validation {
    condition     = contains(["linux", "windows"], var.os_family)
    error_message = "The os_family must be \"linux\" or \"windows\"."
  }
}

variable "os_slug" {
  type        = string
  description = "Short name of the OS version: ubuntu-22.04, rocky-9, win2022 (template tpl-<os_slug>)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*$", var.os_slug))
    error_message = "The os_slug must be lower-case letters, digits, dots and dashes."
  }
}

variable "os_name" {
  type = string
}

variable "os_version" {
  type = string
}

variable "os_type" {
  type        = string
  description = "Proxmox ostype: l26, win11, ..."
}

variable "os_communicator" {
  type = string
}

variable "iso_filename" {
  type        = string
  description = "Installer ISO on var.iso_storage (content iso)."
}

variable "iso_checksum" {
  type        = string
  description = "Checksum of the installer ISO, sha256:<64 hex> or sha512:<128 hex>."

  validation {
    condition     = can(regex("^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$", var.iso_checksum))
    error_message = "The iso_checksum must be \"sha256:\" followed by 64 lower-case hex digits (or \"sha512:\" and 128)."
  }
}

variable "extra_iso_files" {
  type        = list(string)
  default     = []
  description = "More ISOs on var.iso_storage attached to ISO builds (VirtIO drivers)."
}

variable "clone_vm" {
  type        = string
  description = "Name of the cloud-image base VM clone builds start from."
}

variable "boot_wait" {
  type    = string
  default = "5s"
}

variable "boot_command" {
  type    = list(string)
  default = []
}

variable "ssh_username" {
  type    = string
  default = "packer"
}

variable "winrm_username" {
  type    = string
  default = "Administrator"
}

variable "install_timeout" {
  type        = string
  default     = "45m"
  description = "How long the installer may take before the communicator connects."
}
