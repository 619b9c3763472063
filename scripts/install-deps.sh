#!/usr/bin/env bash
# Installs what skiff needs on Debian 12: containerd and runc to run
# containers, iptables and iproute2 for the pod network, busybox-static and
# docker-registry for the tests (images are built offline from busybox).
set -euo pipefail
need=()
for pkg in containerd runc iptables iproute2 busybox-static docker-registry; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "skiff needs root to install packages and run containers" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "Go 1.26 is required (https://go.dev/doc/install)" >&2; exit 1; }
