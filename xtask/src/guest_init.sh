#!/opt/busybox/busybox sh
# PID 1 of the `cargo xtask kernels` guest: mounts what exitwatch and its tests need, runs a smoke
# test and the end-to-end suite, prints EXITWATCH-* marker lines for the host to read, powers off.
# /etc/exitwatch-guest.env (written by xtask) sets EXITWATCH_BIN, E2E_BIN, E2E_DIR and E2E_ARGS.

# Init started: the host boots once more a guest whose kernel died before this line, never one
# that died after it (qemu.rs, Console::second_boot).
echo "EXITWATCH-INIT"

# The initramfs root cannot be pivot_root'ed, and runc pivots into every container's root
# ("pivot_root .: invalid argument"): a guest that carries the container runtimes first moves
# itself onto a tmpfs, as a real machine's root is a real mount.
if [ "$$" = 1 ] && [ -z "$EXITWATCH_SWITCHED" ] && [ -e /etc/exitwatch-guest-runtimes ]; then
    bb=/opt/busybox/busybox
    $bb mkdir -p /newroot
    $bb mount -t tmpfs -o size=90% tmpfs /newroot
    for entry in /* /.[!.]*; do
        [ "$entry" = /newroot ] || [ ! -e "$entry" ] || $bb cp -a "$entry" /newroot/
    done
    export EXITWATCH_SWITCHED=1
    exec $bb switch_root /newroot /init
fi

/opt/busybox/busybox --install -s /opt/busybox
# Busybox last: the tests must meet the real bash, kill, unshare... (their names and argv are checked).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/busybox
export HOME=/root RUST_BACKTRACE=1
. /etc/exitwatch-guest.env
export EXITWATCH_BIN EXITWATCH_READY_TIMEOUT EXITWATCH_DAEMON_TIMEOUT

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# What container runtimes expect of a machine.
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# No tmpfs on /tmp or /run: the initramfs is already a writable tmpfs, and a mount there would
# hide a workspace that lives under /tmp on the host.
chmod 1777 /tmp /var/tmp
# exitwatch needs no tracefs (tp_btf programs), but a machine usually has it.
mount -t tracefs tracefs /sys/kernel/tracing
# Pure cgroup v2, memory controller on for child groups: what the OOM tests need.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+memory +pids" > /sys/fs/cgroup/cgroup.subtree_control ||
    echo "EXITWATCH-WARNING cannot enable the memory controller: $(cat /sys/fs/cgroup/cgroup.controllers)"

# The SIEM-output tests talk to local peers over 127.0.0.1.
ip link set lo up
hostname exitwatch-guest

echo
echo "EXITWATCH-KERNEL-VERSION $(uname -r)"
echo "EXITWATCH-ARCH $(uname -m)"
# v2 when cgroup2 is the only cgroup filesystem the kernel offers (cgroup_no_v1=all) or mounted.
# (The filesystem type, third field: the mount point /sys/fs/cgroup holds the word too.)
if awk '$3 == "cgroup" { found = 1 } END { exit !found }' /proc/mounts; then
    echo "EXITWATCH-CGROUP hybrid"
else
    echo "EXITWATCH-CGROUP v2"
fi
echo "EXITWATCH-GUEST cpus=$(nproc) mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo) cgroup=$(cat /sys/fs/cgroup/cgroup.subtree_control) btf=$(test -r /sys/kernel/btf/vmlinux && echo yes || echo no)"

# Smoke: exitwatch starts, attaches, and reports `/bin/kill -9` of a sleep.
smoke() {
    sleep 600 &
    victim=$!
    # EXITWATCH_DEBUG_LOAD: each program's load time and verified instructions, in the log.
    EXITWATCH_DEBUG_LOAD=1 "$EXITWATCH_BIN" --pid "$victim" --format text --color never >/tmp/smoke.out 2>/tmp/smoke.err &
    ew=$!
    started=$(date +%s)
    until grep -q '^exitwatch: ready' /tmp/smoke.err; do
        if ! kill -0 "$ew" 2>/dev/null || [ $(($(date +%s) - started)) -gt 120 ]; then
            break
        fi
        sleep 0.2
    done
    /bin/kill -9 "$victim"
    started=$(date +%s)
    while kill -0 "$ew" 2>/dev/null && [ $(($(date +%s) - started)) -lt 30 ]; do
        sleep 0.2
    done
    kill -9 "$ew" 2>/dev/null
    wait "$ew"
    rc=$?
    wait "$victim" 2>/dev/null
    echo "--- smoke: exitwatch stdout"
    cat /tmp/smoke.out
    echo "--- smoke: exitwatch stderr"
    cat /tmp/smoke.err
    if [ "$rc" = 0 ] && grep -q SIGKILL /tmp/smoke.out && grep -q "/bin/kill -9 $victim" /tmp/smoke.out; then
        echo "EXITWATCH-SMOKE PASS"
    else
        echo "EXITWATCH-SMOKE FAIL rc=$rc"
    fi
}
smoke

# exitwatch's own check of this kernel: every check said, and it must find the node usable.
echo "--- exitwatch doctor"
"$EXITWATCH_BIN" doctor
echo "EXITWATCH-DOCTOR rc=$?"

# As cargo runs it: from the test crate's directory.
cd "$E2E_DIR"
started=$(date +%s)
# E2E_ARGS: --include-ignored and `--skip` filters, split into words on purpose.
"$E2E_BIN" --test-threads=1 $E2E_ARGS
rc=$?
echo "EXITWATCH-SUITE-SECONDS $(($(date +%s) - started))"
if [ "$rc" != 0 ]; then
    echo "EXITWATCH-DMESG-BEGIN"
    dmesg
    echo "EXITWATCH-DMESG-END"
fi
echo "EXITWATCH-KERNEL-RESULT rc=$rc"
sync
poweroff -f
