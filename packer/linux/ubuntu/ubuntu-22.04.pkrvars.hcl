# Ubuntu 22.04 LTS. ISO builds: autoinstall (http/user-data.pkrtpl) from
# the live-server ISO; clone builds: the cloud-image base VM.
os_slug         = "ubuntu-22.04"
os_family       = "linux"
os_name         = "ubuntu"
os_version      = "22.04"
os_type         = "l26"
os_communicator = "ssh"

iso_filename = "ubuntu-22.04.5-live-server-amd64.iso"
# From the release's SHA256SUMS; update together with iso_filename.
iso_checksum = "sha256:9bc6028870aef3f74f4e16b900008179e78b130e6b0b9a140635434a46aa98b0"

clone_vm = "base-ubuntu-22.04"

boot_wait = "5s"
boot_command = [
  "c<wait>",
  "linux /casper/vmlinuz --- autoinstall ds=\"nocloud-net;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/\"<enter><wait>",
  "initrd /casper/initrd<enter><wait>",
  "boot<enter>",
]
