#!/bin/sh
# /init of a `cargo xtask vm-test` guest: loads the kernel's own virtio and 9p modules, mounts
# the root the host shares (tag "host", read-only) and the results directory (tag "out"),
# mounts what an eBPF tool needs, makes that root the guest's own (switch_root, not chroot:
# a chrooted process may not create user namespaces), runs guest-test.sh, powers off.
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod /modules/$m || echo "vm-test: insmod $m failed"; done
R=/host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro host $R \
  || echo "vm-test: mounting the host's root failed"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /out \
  || echo "vm-test: mounting the results directory failed"
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts && mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/tmp
mount -t tmpfs tmpfs $R/run
mount -t bpf bpf $R/sys/fs/bpf || echo "vm-test: mounting bpffs failed"
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || echo "vm-test: mounting cgroup2 failed"
mkdir -p $R/tmp/out && mount --move /out $R/tmp/out
cp /guest-test.sh $R/tmp/guest-test.sh
# sysrq "o" powers off from the new root, whose own poweroff may want a running init system.
exec switch_root $R /bin/sh -c \
  '/bin/sh /tmp/guest-test.sh > /tmp/out/guest.log 2>&1; sync; echo o > /proc/sysrq-trigger'
