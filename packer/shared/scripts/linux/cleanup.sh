#!/bin/sh
# Seal a Linux template: every clone must boot as a new machine.
# Runs as root; BUILD_USER is the temporary build account.
set -eu
cloud-init clean --logs --seed
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id
rm -f /etc/ssh/ssh_host_*
rm -rf /tmp/* /var/tmp/*
find /var/log -type f -exec truncate -s 0 {} +
if [ -n "${BUILD_USER:-}" ] && id "$BUILD_USER" >/dev/null 2>&1; then
	# The session running this script still needs the account until it ends:
	# lock it and drop its keys and sudo rule; cloud-init creates the real users.
	passwd -l "$BUILD_USER" || true
	rm -f "/home/$BUILD_USER/.ssh/authorized_keys" "/etc/sudoers.d/$BUILD_USER"
fi
rm -f /root/.bash_history "/home/${BUILD_USER:-none}/.bash_history"
sync
