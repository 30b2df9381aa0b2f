# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The igb part of the test rig (scripts/vm, "igb"): two igb PFs, each
# behind a root port of its own, and a virtio-net NIC for a traffic peer,
# on one L2 segment inside QEMU.  Sourced by suites from the top of the
# tree; nothing here is a test.
#
#   igb_pfs                  the PFs' addresses (8086:10c9), in order
#   igb_peer_bdf             the peer NIC's address (virtio-net, the rig's
#                            MAC 52:54:00:1b:00:ff)
#   igb_up NVFS              load igb, bring every PF's interface up and
#                            give each NVFS VFs (0 removes them)
#   igb_vfs PF               the PF's VFs' addresses (its virtfnN links)
#   igb_peer_up              the peer NIC in network namespace "lmpeer"
#                            with $IGB_PEER_IP, answering udp-echo.py on
#                            $IGB_ECHO_PORT (pid in $IGB_ECHO_PID)
#   igb_vf_netdev VF         the VF's interface name (igbvf bound), or ""
#   igb_peer_dev             the peer's interface inside the namespace
#   igb_bind BDF DRIVER      bind a function to DRIVER (driver_override)
#   igb_down                 the peer gone, VFs removed, igb unloaded
#
# The peer sits in its own namespace so that traffic between it and an
# interface of the rig's own namespace crosses the segment instead of the
# kernel's local delivery.

# shellcheck disable=SC2034 # used by the suites that source this
IGB_PF_ID=0x10c9 IGB_VF_ID=0x10ca IGB_NET=192.168.77
IGB_PEER_MAC=52:54:00:1b:00:ff
IGB_NS=lmpeer
IGB_PEER_IP=192.168.77.1
IGB_ECHO_PORT=7777
IGB_ECHO_PID=

igb_pfs() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x8086 ] && [ "$(cat "$d/device")" = $IGB_PF_ID ] &&
			echo "${d##*/}"
	done
}

igb_peer_bdf() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1af4 ] || continue
		[ "$(cat "$d"/virtio*/net/*/address 2>/dev/null)" = $IGB_PEER_MAC ] &&
			echo "${d##*/}"
	done
}

igb_up() {
	local pf n
	modprobe igb || return 1
	modprobe igbvf || return 1
	for pf in $(igb_pfs); do
		n=$(ls "/sys/bus/pci/devices/$pf/net" 2>/dev/null)
		[ -n "$n" ] || return 1
		ip link set "$n" up || return 1
		if [ "$(cat "/sys/bus/pci/devices/$pf/sriov_numvfs")" != "$1" ]; then
			echo 0 >"/sys/bus/pci/devices/$pf/sriov_numvfs" || return 1
			[ "$1" = 0 ] || echo "$1" >"/sys/bus/pci/devices/$pf/sriov_numvfs" || return 1
		fi
	done
}

igb_vfs() {
	local l
	for l in /sys/bus/pci/devices/"$1"/virtfn*; do
		[ -e "$l" ] && basename "$(readlink "$l")"
	done | sort
}

igb_vf_netdev() {
	ls "/sys/bus/pci/devices/$1/net" 2>/dev/null | head -n 1
}

igb_peer_up() {
	local dev
	modprobe virtio_net || return 1
	dev=$(ls /sys/bus/pci/devices/"$(igb_peer_bdf)"/virtio*/net 2>/dev/null)
	[ -n "$dev" ] || return 1
	ip netns add $IGB_NS 2>/dev/null
	ip link set "$dev" netns $IGB_NS || return 1
	ip -n $IGB_NS link set lo up
	ip -n $IGB_NS addr add $IGB_PEER_IP/24 dev "$dev" || return 1
	ip -n $IGB_NS link set "$dev" up || return 1
	ip netns exec $IGB_NS python3 selftests/lib/udp-echo.py serve $IGB_PEER_IP $IGB_ECHO_PORT &
	IGB_ECHO_PID=$!
}

# The peer's interface inside its namespace (found by its MAC: a kernel
# with sit or other tunnels built in puts their devices in every new
# namespace too).
igb_peer_dev() {
	ip -n $IGB_NS -o link show |
		awk -v mac=$IGB_PEER_MAC '$0 ~ mac { sub(/@.*/, "", $2); sub(/:$/, "", $2); print $2; exit }'
}

igb_bind() {
	local dev=/sys/bus/pci/devices/$1
	echo "$2" >"$dev/driver_override" || return 1
	[ ! -e "$dev/driver" ] || echo "$1" >"$dev/driver/unbind"
	echo "$1" >/sys/bus/pci/drivers_probe 2>/dev/null
	[ "$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)" = "$2" ]
}

igb_down() {
	local pf
	[ -z "$IGB_ECHO_PID" ] || kill "$IGB_ECHO_PID" 2>/dev/null
	IGB_ECHO_PID=
	ip netns del $IGB_NS 2>/dev/null
	for pf in $(igb_pfs); do
		[ -e "/sys/bus/pci/devices/$pf/sriov_numvfs" ] &&
			echo 0 >"/sys/bus/pci/devices/$pf/sriov_numvfs"
	done
	modprobe -r igbvf igb 2>/dev/null
	return 0
}
