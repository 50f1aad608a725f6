#!/bin/sh
# The end-to-end subset `cargo xtask vm-test` runs in each guest, chrooted into the root the host
# shares (its own, or the arm64 one). Every step leaves NAME.rc, NAME.out and NAME.err in
# /tmp/out, which is the host's results directory; the host judges them.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
O=/tmp/out
# P: the profile binary, X: the exerciser, ARM32: a 32-bit arm program (arm64 guests only).
. $O/env

step() {
  name=$1; shift
  "$@" > $O/$name.out 2> $O/$name.err
  echo $? > $O/$name.rc
  echo "vm-test: $name rc=$(cat $O/$name.rc)"
}

# Waits for TEXT in FILE while background process PID lives (a command saying it is ready), at
# most 120 s.
wait_for() {
  end=$(($(date +%s) + 120))
  while ! grep -q "$1" "$2" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || return 1
    [ "$(date +%s)" -lt $end ] || return 1
    sleep 0.2
  done
}

uname -r > $O/kernel
uname -m > $O/machine

# A tree: threads, a child, an exec'd grandchild; the 5.10 build too, wherever the current one
# is the one that loads. --no-implied: what is compared is what was seen (strace sees no implied
# calls, and the host's recording leaves them out the same way).
step tree "$P" -v record --no-implied -o $O/tree.json -- "$X" tree
step tree_510 env PROFILE_BPF_VARIANT=5.10 "$P" record --no-implied -o $O/tree_510.json -- "$X" tree
command -v strace > /dev/null && step tree_strace strace -f -c -o $O/tree.strace "$X" tree

# 32-bit calls: i386 through int $0x80, or an AArch32 program where the kernel runs them.
case $(uname -m) in
  x86_64) step compat "$P" record -o $O/compat.json -- "$X" int80 100 ;;
  aarch64)
    if "$ARM32" true 2> $O/arm32_probe.err; then
      step compat "$P" record -o $O/compat.json -- "$ARM32" echo hi
      step compat_run "$P" run --profile $O/compat.json -- "$ARM32" echo hi
    fi ;;
esac

# record --cgroup: a process moves itself into the cgroup once the recorder is attached.
mkdir -p /sys/fs/cgroup/vmt
"$P" -v record --cgroup /sys/fs/cgroup/vmt --no-after-seccomp -o $O/cgroup.json \
  > $O/cgroup.out 2> $O/cgroup.err &
rp=$!
wait_for "recording cgroup" $O/cgroup.err $rp
sh -c 'echo $$ > /sys/fs/cgroup/vmt/cgroup.procs; exec "$0" tree' "$X"
kill -INT $rp 2>/dev/null
wait $rp; echo $? > $O/cgroup.rc
echo "vm-test: cgroup rc=$(cat $O/cgroup.rc)"

# --args: learned socket arguments, then enforced: AF_UNIX allowed, AF_INET refused.
step args "$P" record --args -o $O/args.json -- "$X" unix-socket
step args_run "$P" run --profile $O/args.json -- "$X" inet-socket

# The daemon: a cgroup created, used and removed below its root.
mkdir -p /sys/fs/cgroup/vmd
"$P" -v daemon --cgroup-root /sys/fs/cgroup/vmd --out-dir $O/daemon --flush-interval 1s \
  --no-after-seccomp --control-socket /run/vmt.sock > $O/daemon.out 2> $O/daemon.err &
dp=$!
wait_for "recording every cgroup below" $O/daemon.err $dp
mkdir /sys/fs/cgroup/vmd/w1
sh -c 'echo $$ > /sys/fs/cgroup/vmd/w1/cgroup.procs; exec "$0" tree' "$X"
rmdir /sys/fs/cgroup/vmd/w1
wait_for "removed: writing their profiles" $O/daemon.err $dp
step daemon_status "$P" status --control-socket /run/vmt.sock
kill -TERM $dp 2>/dev/null
wait $dp; echo $? > $O/daemon.rc
echo "vm-test: daemon rc=$(cat $O/daemon.rc)"
step daemon_unpin "$P" daemon --unpin

# profile run: the tree's profile lets the tree run; a socket program's refuses clone.
step run_ok "$P" run --profile $O/tree.json -- "$X" tree
step unix "$P" record -o $O/unix.json -- "$X" unix-socket
step run_refused "$P" run --profile $O/unix.json -- "$X" clone-newnet

# Without BTF: one line that says so.
if mount -t tmpfs none /sys/kernel/btf; then
  step nobtf "$P" record -o /tmp/nobtf.json -- "$X" exit 0
  umount /sys/kernel/btf
fi
# End-to-end test files built for the host (`vm-test --e2e`), x86_64 guests only.
for t in $E2E; do
  step "e2e_${t%%=*}" "${t#*=}" --test-threads 2
done
echo "vm-test: done"
