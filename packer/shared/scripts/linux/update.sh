#!/bin/sh
# Package upgrades for every Linux template (apt or dnf). Runs as root.
set -eu
if command -v apt-get >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	cloud-init status --wait >/dev/null 2>&1 || true
	apt-get update
	apt-get -y -o Dpkg::Options::=--force-confold dist-upgrade
	apt-get -y install qemu-guest-agent cloud-init cloud-guest-utils
	apt-get -y autoremove --purge
	apt-get clean
elif command -v dnf >/dev/null 2>&1; then
	dnf -y upgrade --refresh
	dnf -y install qemu-guest-agent cloud-init cloud-utils-growpart
	dnf -y autoremove
	dnf clean all
else
	echo "update.sh: no apt-get or dnf" >&2
	exit 1
fi
systemctl enable qemu-guest-agent
