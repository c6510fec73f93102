# Rocky Linux 9. ISO builds: kickstart (http/ks.cfg.pkrtpl) from the minimal
# ISO; clone builds: the GenericCloud base VM.
os_slug         = "rocky-9"
os_family       = "linux"
os_name         = "rocky"
os_version      = "9"
os_type         = "l26"
os_communicator = "ssh"

iso_filename = "Rocky-9.5-x86_64-minimal.iso"
# From the release's CHECKSUM file; update together with iso_filename.
iso_checksum = "sha256:eedbdc2875c32c7f00e70fc861edef48587c7cbfd106885af80bdf434543820b"

clone_vm = "base-rocky-9"

boot_wait = "5s"
boot_command = [
  "<up><tab><wait>",
  " inst.text inst.ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg<enter>",
]
