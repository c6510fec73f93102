# Ubuntu 24.04 LTS. ISO builds: autoinstall (http/user-data.pkrtpl) from
# the live-server ISO; clone builds: the cloud-image base VM.
os_slug         = "ubuntu-24.04"
os_family       = "linux"
os_name         = "ubuntu"
os_version      = "24.04"
os_type         = "l26"
os_communicator = "ssh"

iso_filename = "ubuntu-24.04.2-live-server-amd64.iso"
# From the release's SHA256SUMS; update together with iso_filename.
iso_checksum = "sha256:d6dab0c3a657988501b4bd76f1297c053df710e06e0c3aece60dead24f270b4d"

clone_vm = "base-ubuntu-24.04"

boot_wait = "5s"
boot_command = [
  "c<wait>",
  "linux /casper/vmlinuz --- autoinstall ds=\"nocloud-net;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/\"<enter><wait>",
  "initrd /casper/initrd<enter><wait>",
  "boot<enter>",
]
