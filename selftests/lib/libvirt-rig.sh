# SPDX-License-Identifier: GPL-2.0
#
# libvirt in the test rig, sourced by the suites selftests/suites.d/libvirt
# and libvirt-migrate (not a suite itself).  The rig's root is read-only
# and has no systemd, so:
#
#   lv_setup            tmpfs over libvirt's state directories, a qemu.conf
#                       that runs QEMU as root without namespaces, cgroups
#                       or a security driver (the rig has none of them),
#                       livemig-vfio-pci in modules.alias (see below), and
#                       daemon A: virtlogd and libvirtd on the usual paths,
#                       host UUID $LV_UUID_A
#   lv_start_b          daemon B, a second "host": libvirtd and virtlogd in
#                       their own mount namespace (unshare -m) with their
#                       own tmpfs state, host UUID $LV_UUID_B and their
#                       UNIX sockets in $LV_B (the URI is $LV_URI_B)
#   lv_b CMD...         run CMD in daemon B's mount namespace
#   lv_qmp_sent DAEMON CMD  the QMP commands named CMD daemon a or b sent
#   lv_cleanup          stop the daemons, undo the mounts
#   lv_give_back BDF... bind the functions to livemig-vfio-pci again
#   lv_domain_xml, lv_start, lv_relay, lv_wait_line, lv_verify, lv_why: a test
#                       domain running the payload, and talking to it
#
# modules.alias: libvirt picks a variant driver from the kernel's
# modules.alias.  If the module is not in it (loaded with insmod), the
# module's aliases are added to a copy bound over the original.
#
# The caller runs from the top of the tree, defines bail (print
# "Bail out!", exit) and diag, and sets LV_TMP (a scratch directory) and
# PAYLOAD before lv_setup.

LV_DIRS=(/var/lib/libvirt /var/cache/libvirt /var/log/libvirt /run/libvirt)
LV_UUID_A=6a1c3f52-8e0d-4b7a-9c21-3d4e5f60a1b2
LV_UUID_B=9e2d4c71-5a3b-4f8e-b0c9-1d2e3f4a5b6c
LV_MOUNTS=()
LV_B_PID=

lv_setup() {
	local d alias

	for d in "${LV_DIRS[@]}"; do
		mkdir -p "$d" 2>/dev/null
		mount -t tmpfs tmpfs "$d" || bail "cannot mount tmpfs on $d"
		LV_MOUNTS+=("$d")
	done
	cat >"$LV_TMP/qemu.conf" <<'EOF'
user = "root"
group = "root"
dynamic_ownership = 0
namespaces = [ ]
security_driver = "none"
cgroup_controllers = [ ]
EOF
	mount --bind "$LV_TMP/qemu.conf" /etc/libvirt/qemu.conf || bail "cannot bind a qemu.conf"
	LV_MOUNTS+=(/etc/libvirt/qemu.conf)
	lv_conf "$LV_UUID_A" "$LV_TMP/libvirtd-a.log" >"$LV_TMP/libvirtd-a.conf"

	alias=/lib/modules/$(uname -r)/modules.alias
	if grep -q " livemig_vfio_pci$" "$alias" 2>/dev/null; then
		diag "setup: livemig-vfio-pci is in $alias (installed in the module tree: ${LIVEMIG_MODULE:-?})"
	else
		{ cat "$alias" 2>/dev/null
		  modinfo -F alias "${LIVEMIG_MODULE:-}" | sed 's/^/alias /; s/$/ livemig_vfio_pci/'
		} >"$LV_TMP/modules.alias"
		grep -q " livemig_vfio_pci$" "$LV_TMP/modules.alias" || bail "no aliases from modinfo ${LIVEMIG_MODULE:-}"
		mount --bind "$LV_TMP/modules.alias" "$alias" || bail "cannot bind modules.alias"
		LV_MOUNTS+=("$alias")
		diag "setup: module loaded with insmod; its aliases added to a copy of $alias (make check installs it from the DKMS package instead)"
	fi

	virtlogd -d || bail "virtlogd does not start"
	libvirtd -d --config "$LV_TMP/libvirtd-a.conf" || bail "libvirtd does not start"
	lv_wait qemu:///system || bail "libvirtd does not answer"
	diag "setup: $(virsh -q -c qemu:///system version | tr '\n' ';' | tr -s ' ')"
}

# lv_conf HOST-UUID LOG: a libvirtd.conf.  The daemon logs the QMP
# traffic with its QEMUs to LOG (what libvirt asked QEMU to do).
lv_conf() {
	printf 'host_uuid = "%s"\n' "$1"
	printf 'log_filters = "1:qemu.qemu_monitor 4:*"\n'
	printf 'log_outputs = "1:file:%s"\n' "$2"
}

# lv_wait URI: wait for a daemon to answer
lv_wait() {
	local i

	for ((i = 0; i < 100; i++)); do
		virsh -q -c "$1" version >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

lv_start_b() {
	LV_B=$LV_TMP/b
	LV_URI_B="qemu+unix:///system?socket=$LV_B/libvirt-sock"
	mkdir -p "$LV_B"
	{ printf 'unix_sock_dir = "%s"\n' "$LV_B"
	  lv_conf "$LV_UUID_B" "$LV_TMP/libvirtd-b.log"
	} >"$LV_B/libvirtd.conf"
	# The new namespace starts with A's mounts (qemu.conf, modules.alias);
	# its own tmpfs hides A's state, sockets and logs.
	B=$LV_B unshare -m --propagation private bash -c '
		for d in "$@"; do mount -t tmpfs tmpfs "$d" || exit 1; done
		virtlogd -d -p "$B/virtlogd.pid" &&
		libvirtd -d -p "$B/libvirtd.pid" --config "$B/libvirtd.conf"
	' lv-b "${LV_DIRS[@]}" || bail "daemon B does not start"
	[ -s "$LV_B/libvirtd.pid" ] || sleep 1
	LV_B_PID=$(cat "$LV_B/libvirtd.pid" 2>/dev/null)
	[ -n "$LV_B_PID" ] || bail "daemon B did not start"
	lv_wait "$LV_URI_B" || bail "daemon B does not answer on $LV_URI_B"
}

lv_b() {
	nsenter -m -t "$LV_B_PID" "$@"
}

lv_qmp_sent() {
	grep -o "\"execute\":\"$2\".*" "$LV_TMP/libvirtd-$1.log" 2>/dev/null
}

# lv_domain_xml BDF SERIAL-SOCKET OVERRIDE(0|1) [TRACE-EVENT...]: the test
# domain, named lmtest: 64 MiB, the bare-metal payload ($PAYLOAD) as its
# kernel, BDF as a managed hostdev with the user alias ua-lm0, its serial
# port on a UNIX socket QEMU listens on.  OVERRIDE 1 adds <qemu:override>
# setting the hostdev's enable-migration=on (Documentation/operating.md).
# Each TRACE-EVENT is enabled with QEMU's -trace; QEMU prints the events
# on its stderr, which libvirt keeps in /var/log/libvirt/qemu/lmtest.log.
lv_domain_xml() {
	local dom bus slotfn slot fn ev
	IFS=: read -r dom bus slotfn <<<"$1"
	slot=${slotfn%.*} fn=${slotfn#*.}
	cat <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>lmtest</name>
  <uuid>7d3f5a0e-1c2b-4e6f-8a9b-0c1d2e3f4a5b</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$PAYLOAD</kernel>
    <cmdline>timeout=600</cmdline>
  </os>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <alias name='ua-lm0'/>
      <source><address domain='0x$dom' bus='0x$bus' slot='0x$slot' function='0x$fn'/></source>
    </hostdev>
    <serial type='unix'><source mode='bind' path='$2'/></serial>
  </devices>
EOF
	if [ $# -gt 3 ]; then
		echo "  <qemu:commandline>"
		for ev in "${@:4}"; do
			echo "    <qemu:arg value='-trace'/>"
			echo "    <qemu:arg value='enable=$ev'/>"
		done
		echo "  </qemu:commandline>"
	fi
	[ "$3" = 1 ] && cat <<'EOF'
  <qemu:override>
    <qemu:device alias='ua-lm0'>
      <qemu:frontend>
        <qemu:property name='enable-migration' type='string' value='on'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>
EOF
	echo "</domain>"
}

# lv_relay SOCKET NAME [SECONDS]: relay a domain's serial port (selftests/
# lib/serial-relay.py): the guest's output in $LV_TMP/NAME.out, bytes
# written to the FIFO $LV_TMP/NAME.in go to the guest.  The relay creates
# NAME.out once it is connected; QEMU drops what the guest prints before
# that.  With SECONDS, the relay starts once SOCKET exists (waiting at
# most that long): for the destination of a migration, whose vCPUs run as
# soon as the migration completes, a relay started before the migration
# connects while the incoming QEMU is still loading.
LV_RELAYS=()
lv_relay() {
	rm -f "$LV_TMP/$2.out" "$LV_TMP/$2.in"
	mkfifo "$LV_TMP/$2.in"
	(
		t=$((SECONDS + ${3:-0}))
		while [ ! -S "$1" ] && [ $SECONDS -lt $t ]; do sleep 0.1; done
		exec python3 selftests/lib/serial-relay.py "$1" "$LV_TMP/$2.out" "$LV_TMP/$2.in"
	) &
	LV_RELAYS+=($!)
}

# lv_start URI XML NAME: create the domain paused, relay its serial port
# (lv_relay, socket from the XML) and resume it only once the relay is
# connected, so that nothing the payload prints is lost however slowly
# the relay starts.  Logs virsh's output in $LV_TMP/NAME-create.log.
lv_start() {
	local sock t

	sock=$(sed -n "s/.*<serial type='unix'><source mode='bind' path='\([^']*\)'.*/\1/p" "$2")
	virsh -q -c "$1" create --paused "$2" >"$LV_TMP/$3-create.log" 2>&1 || return 1
	lv_relay "$sock" "$3"
	t=$((SECONDS + 30))
	while [ ! -e "$LV_TMP/$3.out" ] && [ $SECONDS -lt $t ]; do sleep 0.2; done
	if [ ! -e "$LV_TMP/$3.out" ]; then
		echo "the serial relay did not connect to $sock in 30 s" >>"$LV_TMP/$3-create.log"
		return 1
	fi
	virsh -q -c "$1" resume lmtest >>"$LV_TMP/$3-create.log" 2>&1
}

lv_stop_relays() {
	local p
	for p in "${LV_RELAYS[@]}"; do kill "$p" 2>/dev/null; done
	LV_RELAYS=()
}

# lv_wait_line NAME REGEX SECONDS: wait for the guest to print a line
# (wall-clock seconds: a loaded rig stretches every loop iteration)
lv_wait_line() {
	local t=$((SECONDS + $3))

	while [ $SECONDS -lt $t ]; do
		grep -qE "$2" "$LV_TMP/$1.out" 2>/dev/null && return 0
		sleep 0.2
	done
	grep -qE "$2" "$LV_TMP/$1.out" 2>/dev/null
}

# lv_verify NAME: tell the payload the migration is over ('E'); 0 if its
# checks of the device pass
lv_verify() {
	printf E >"$LV_TMP/$1.in"
	lv_wait_line "$1" 'LMG RESULT' 60
	grep -q 'LMG RESULT PASS' "$LV_TMP/$1.out"
}

# lv_why NAME: the payload's verdict lines: its first failed checks, its
# result, and on a failure what it counted while it waited for the
# migration (the RESUMED line: register checks that failed, invariant_bad)
# and what its CPU-written memory check found (MEMSEQ: stale words)
lv_why() {
	{ grep -m3 -E 'LMG (CHECK-FAIL|RESULT|EXCEPTION)' "$LV_TMP/$1.out"
	  grep -q 'LMG RESULT PASS' "$LV_TMP/$1.out" ||
		grep -E 'LMG (RESUMED|MEMSEQ)' "$LV_TMP/$1.out" | tail -n 2
	} 2>/dev/null | tr '\n' ' '
}

# lv_give_back BDF...: bind each function to livemig-vfio-pci again, as
# the rig had it, unless it is bound to it already
lv_give_back() {
	local b drv

	for b in "$@"; do
		drv=$(basename "$(readlink "/sys/bus/pci/devices/$b/driver" 2>/dev/null)" 2>/dev/null)
		[ "$drv" = livemig-vfio-pci ] && continue
		[ -z "$drv" ] || echo "$b" >"/sys/bus/pci/devices/$b/driver/unbind"
		echo livemig-vfio-pci >"/sys/bus/pci/devices/$b/driver_override"
		echo "$b" >/sys/bus/pci/drivers_probe
	done
}

lv_cleanup() {
	local m

	lv_stop_relays
	pkill -x libvirtd 2>/dev/null
	pkill -x virtlogd 2>/dev/null
	sleep 0.5
	for ((m = ${#LV_MOUNTS[@]} - 1; m >= 0; m--)); do
		umount "${LV_MOUNTS[$m]}" 2>/dev/null
	done
	LV_MOUNTS=()
}
