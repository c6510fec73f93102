# Windows Server 2022 Standard. ISO builds: Autounattend.xml on a CD
# (cd/Autounattend.xml.pkrtpl), VirtIO drivers from virtio-win.iso, WinRM.
os_slug         = "win2022"
os_family       = "windows"
os_name         = "windows-server"
os_version      = "2022"
os_type         = "win11"
os_communicator = "winrm"

iso_filename = "SERVER_EVAL_x64FRE_en-us.iso"
# From Microsoft's evaluation center listing; update together with iso_filename.
iso_checksum    = "sha256:3e4fa6d8507b554856fc9ca6079cc402df11a8b79344871669f0251535255325"
extra_iso_files = ["virtio-win.iso"]

# A sysprepped Windows base VM for monthly clone rebuilds, if one exists.
clone_vm = "base-win2022"

boot_wait       = "3s"
boot_command    = ["<spacebar><wait><spacebar>"]
install_timeout = "2h"
