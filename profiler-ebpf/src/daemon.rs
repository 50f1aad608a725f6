//! `profile daemon`: which syscalls each cgroup below a root has made, as one bitmap per cgroup.
//!
//! Unlike `CGROUP_COUNTS` (per-CPU, one entry per syscall), an entry here is one cgroup: 384
//! bytes whatever the number of CPUs, so 10,000 cgroups fit in a few MiB. Only the first call of
//! a syscall in a cgroup writes (an atomic OR); every later one only reads, so threads on
//! several CPUs share the cache line read-only. Kernels without atomic OR (before 5.12) get the
//! `_510` variant, with one byte per syscall instead of one bit (3 KiB per cgroup): a plain store
//! of 1 loses nothing when another CPU stores into the same entry at once, because every writer
//! stores the same value, and no two syscalls share a byte. The maps are created with sizes from
//! the daemon's flags (1 entry in the object, so `record` pays nothing for them) and pinned by
//! the daemon together with the program and its link, so counting goes on while no daemon runs.
//!
//! `sys_exit_daemon` sees what seccomp denied: a call that a filter refuses never reaches the
//! `sys_enter` tracepoint, but it does leave the kernel through `sys_exit`. A call of a task
//! under a filter whose bit its cgroup's entry does not have was never let in, so it is counted
//! in `DAEMON_DENIED` (count, first and last time, the last process), whatever the runtime and
//! whether or not the kernel logs it.
use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_NOEXIST},
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_ktime_get_boot_ns,
        generated::bpf_get_current_comm,
    },
    macros::{map, raw_tracepoint},
    maps::{Array, HashMap, PerCpuArray},
    programs::RawTracePointContext,
};
use profiler_common::{
    machine::pt_regs, CgroupSyscallKey, DaemonInfo, Denial, SeenBytes, SeenSyscalls,
    DAEMON_EVENT_COUNT, DAEMON_EVENT_DENIED, DAEMON_EVENT_DENIED_FULL, DAEMON_EVENT_NEW,
    DAEMON_EVENT_ODD_FULL, DAEMON_EVENT_SEEN_FULL, DAEMON_EVENT_TREE, INSTALL_CALLS, SEEN_BYTES,
    SEEN_WORDS, SYSCALL_TABLE_SIZE,
};

use crate::{
    abi,
    maps::config,
    regs::{RawRegs, SavedRegs as _},
    task::{BtfTask, ProbedTask, Task},
};

/// Cgroup id → the syscalls it has made, one bit each.
#[map]
pub static DAEMON_SEEN: HashMap<u64, SeenSyscalls> = HashMap::with_max_entries(1, 0);

/// The same, one byte each (the `_510` variant).
#[map]
pub static DAEMON_SEEN_BYTES: HashMap<u64, SeenBytes> = HashMap::with_max_entries(1, 0);

/// Out-of-table syscall numbers (bogus numbers passed to `syscall(2)`) per cgroup; the value is
/// unused.
#[map]
pub static DAEMON_ODD: HashMap<CgroupSyscallKey, u8> = HashMap::with_max_entries(1, 0);

/// Calls denied per (cgroup, ABI, number). Not preallocated: most cgroups have none, and the
/// few that do have a handful.
#[map]
pub static DAEMON_DENIED: HashMap<CgroupSyscallKey, Denial> =
    HashMap::with_max_entries(1, BPF_F_NO_PREALLOC);

/// Per-CPU counters of what could not be kept and of what changed (`DAEMON_EVENT_*`).
#[map]
pub static DAEMON_EVENTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(DAEMON_EVENT_COUNT, 0);

/// What the pinned set was loaded for; written by userspace, never read here.
#[map]
pub static DAEMON_INFO: Array<DaemonInfo> = Array::with_max_entries(1, 0);

/// All-zero entries to insert a new cgroup's from: 384 bytes would take most of the 512-byte
/// stack, 3 KiB would not fit.
#[map]
static DAEMON_ZERO: Array<SeenSyscalls> = Array::with_max_entries(1, 0);
#[map]
static DAEMON_ZERO_BYTES: Array<SeenBytes> = Array::with_max_entries(1, 0);

/// `sys_enter` for the daemon: every task below `CONFIG.root_id` (at `CONFIG.cgroup_level`),
/// keyed by the task's own cgroup, so a cgroup is counted from its first call.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_daemon(ctx: RawTracePointContext) -> i32 {
    on_sys_enter_daemon::<BtfTask, SeenSyscalls>(&ctx, &DAEMON_SEEN, &DAEMON_ZERO);
    0
}

/// [`sys_enter_daemon`] for kernels without `bpf_get_current_task_btf` (5.11), atomic OR (5.12)
/// or `bpf_get_current_ancestor_cgroup_id` in tracing programs (5.14).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_daemon_510(ctx: RawTracePointContext) -> i32 {
    on_sys_enter_daemon::<ProbedTask, SeenBytes>(&ctx, &DAEMON_SEEN_BYTES, &DAEMON_ZERO_BYTES);
    0
}

/// `sys_exit` for the daemon: calls of filtered tasks below the root that never entered.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit_daemon(ctx: RawTracePointContext) -> i32 {
    on_sys_exit_daemon::<BtfTask, SeenSyscalls>(&ctx, &DAEMON_SEEN);
    0
}

/// [`sys_exit_daemon`] for the kernels of [`sys_enter_daemon_510`].
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit_daemon_510(ctx: RawTracePointContext) -> i32 {
    on_sys_exit_daemon::<ProbedTask, SeenBytes>(&ctx, &DAEMON_SEEN_BYTES);
    0
}

/// `cgroup_rmdir` and `cgroup_rename`: the tree changed, so the daemon walks it again (and only
/// then: a tree that does not change is never walked).
#[raw_tracepoint(tracepoint = "cgroup_rmdir")]
pub fn cgroup_rmdir_daemon(_ctx: RawTracePointContext) -> i32 {
    note(DAEMON_EVENT_TREE);
    0
}

#[raw_tracepoint(tracepoint = "cgroup_rename")]
pub fn cgroup_rename_daemon(_ctx: RawTracePointContext) -> i32 {
    note(DAEMON_EVENT_TREE);
    0
}

/// A cgroup's entry: which (ABI, number) pairs it has called.
trait Seen: 'static {
    /// Marks syscall `nr` (below `SYSCALL_TABLE_SIZE`) of `abi`.
    ///
    /// # Safety
    /// `seen` points to a map value of this type.
    unsafe fn mark(seen: *mut Self, abi: u32, nr: u64);

    /// Whether syscall `nr` of `abi` is marked (out-of-table numbers are not).
    fn marked(&self, abi: u32, nr: u64) -> bool;
}

/// The word of `SeenSyscalls::bits` and the bit in it of syscall `nr` of `abi`, or `None`
/// beyond the table; the explicit bound is what lets the verifier accept the index.
#[inline(always)]
fn bit_of(abi: u32, nr: u64) -> Option<(usize, u64)> {
    let word = abi as usize * (SYSCALL_TABLE_SIZE / 64) + (nr as usize >> 6);
    (word < SEEN_WORDS).then_some((word, 1u64 << (nr & 63)))
}

/// The index in `SeenBytes::flags` of syscall `nr` of `abi`, or `None` beyond the table.
#[inline(always)]
fn byte_of(abi: u32, nr: u64) -> Option<usize> {
    let index = abi as usize * SYSCALL_TABLE_SIZE + nr as usize;
    (index < SEEN_BYTES).then_some(index)
}

impl Seen for SeenSyscalls {
    #[inline(always)]
    unsafe fn mark(seen: *mut Self, abi: u32, nr: u64) {
        let Some((word, bit)) = bit_of(abi, nr) else {
            return;
        };
        unsafe {
            let word = (*seen).bits.as_mut_ptr().add(word);
            // Read first: after a cgroup's first call of a syscall nothing is written again.
            if core::ptr::read_volatile(word) & bit == 0 {
                set_bits(word, bit);
                note(DAEMON_EVENT_NEW);
            }
        }
    }

    #[inline(always)]
    fn marked(&self, abi: u32, nr: u64) -> bool {
        bit_of(abi, nr).is_some_and(|(word, bit)| {
            let word = unsafe { core::ptr::read_volatile(self.bits.as_ptr().add(word)) };
            word & bit != 0
        })
    }
}

impl Seen for SeenBytes {
    #[inline(always)]
    unsafe fn mark(seen: *mut Self, abi: u32, nr: u64) {
        let Some(index) = byte_of(abi, nr) else {
            return;
        };
        unsafe {
            let flag = (*seen).flags.as_mut_ptr().add(index);
            if core::ptr::read_volatile(flag) == 0 {
                core::ptr::write_volatile(flag, 1);
                note(DAEMON_EVENT_NEW);
            }
        }
    }

    #[inline(always)]
    fn marked(&self, abi: u32, nr: u64) -> bool {
        byte_of(abi, nr).is_some_and(|index| {
            let flag = unsafe { core::ptr::read_volatile(self.flags.as_ptr().add(index)) };
            flag != 0
        })
    }
}

#[inline(always)]
fn on_sys_enter_daemon<T: Task, S: Seen>(
    ctx: &RawTracePointContext,
    seen_map: &HashMap<u64, S>,
    zero: &Array<S>,
) {
    let config = config();
    let task = T::current();
    if task.ancestor_cgroup_id(config.cgroup_level) != config.root_id {
        return;
    }
    let regs = RawRegs::new(ctx.arg(0));
    let Some((abi, nr)) = abi::admitted(ctx.arg(1), &regs, &task, config.after_seccomp != 0) else {
        return;
    };
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    if nr >= SYSCALL_TABLE_SIZE as u64 {
        let key = CgroupSyscallKey {
            cgroup,
            nr,
            abi,
            _pad: 0,
        };
        if unsafe { DAEMON_ODD.get(&key) }.is_none() {
            if DAEMON_ODD.insert(&key, &1, 0).is_ok() {
                note(DAEMON_EVENT_NEW);
            } else {
                note(DAEMON_EVENT_ODD_FULL);
            }
        }
        return;
    }
    let seen = match seen_map.get_ptr_mut(&cgroup) {
        Some(seen) => seen,
        None => {
            // A reference, not a copy: the value must not land on the stack.
            let Some(zero) = zero.get(0) else {
                return;
            };
            // Another CPU may insert the same cgroup first (EEXIST): the lookup below finds
            // its entry. Only a full map leaves none.
            let _ = seen_map.insert(&cgroup, &zero, BPF_NOEXIST as u64);
            match seen_map.get_ptr_mut(&cgroup) {
                Some(seen) => seen,
                None => {
                    note(DAEMON_EVENT_SEEN_FULL);
                    return;
                }
            }
        }
    };
    unsafe { S::mark(seen, abi, nr) };
}

#[inline(always)]
fn on_sys_exit_daemon<T: Task, S: Seen>(ctx: &RawTracePointContext, seen_map: &HashMap<u64, S>) {
    let task = T::current();
    // Only a filter denies; most tasks have none, and this is the cheapest test.
    if !task.seccomp_filtered() {
        return;
    }
    let config = config();
    if task.ancestor_cgroup_id(config.cgroup_level) != config.root_id {
        return;
    }
    let regs = RawRegs::new(ctx.arg(0));
    let (offset, width) = pt_regs::SYSCALL_NR;
    let word = regs.word(offset);
    // -1: no syscall (rt_sigreturn's restored registers, a tracer's skip).
    let id = if width == 4 {
        word as u32 as i32 as i64
    } else {
        word as i64
    };
    if id < 0 {
        return;
    }
    let (abi, nr) = abi::decode(id as u64, abi::compat_of(&regs, &task));
    // Beyond the table no name exists to allow; such numbers are not tracked here.
    if nr >= SYSCALL_TABLE_SIZE as u64 {
        return;
    }
    let ret: i64 = ctx.arg(1);
    // The call that installed the task's first filter entered while it had none (so with
    // --after-seccomp it was not counted) and returns under it: success is not a denial.
    if ret >= 0 && installs_filter(abi, nr) {
        return;
    }
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    if let Some(seen) = unsafe { seen_map.get(&cgroup) } {
        if seen.marked(abi, nr) {
            return;
        }
    }
    let key = CgroupSyscallKey {
        cgroup,
        nr,
        abi,
        _pad: 0,
    };
    let now = unsafe { bpf_ktime_get_boot_ns() };
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let denial = match DAEMON_DENIED.get_ptr_mut(&key) {
        Some(denial) => denial,
        None => {
            let first = Denial {
                count: 0,
                first_ns: now,
                last_ns: now,
                ret,
                tgid,
                _pad: 0,
                comm: [0; 16],
            };
            // Another CPU may insert it first (EEXIST): the lookup below finds its entry.
            let _ = DAEMON_DENIED.insert(&key, &first, BPF_NOEXIST as u64);
            match DAEMON_DENIED.get_ptr_mut(&key) {
                Some(denial) => denial,
                None => {
                    note(DAEMON_EVENT_DENIED_FULL);
                    return;
                }
            }
        }
    };
    note(DAEMON_EVENT_DENIED);
    unsafe {
        add_one(core::ptr::addr_of_mut!((*denial).count));
        // Plain stores: two CPUs racing each leave a consistent last call.
        (*denial).last_ns = now;
        (*denial).ret = ret;
        (*denial).tgid = tgid;
        bpf_get_current_comm((*denial).comm.as_mut_ptr().cast(), 16);
    }
}

/// Whether syscall `nr` of `abi` installs seccomp filters (`seccomp`, `prctl`).
#[inline(always)]
fn installs_filter(abi: u32, nr: u64) -> bool {
    let calls = if abi == profiler_common::ABI_COMPAT {
        INSTALL_CALLS[1]
    } else {
        INSTALL_CALLS[0]
    };
    nr == calls[0] || nr == calls[1]
}

/// `*n += 1`, atomically: BPF's oldest atomic instruction (XADD), which every supported kernel
/// has (fetch and OR came with 5.12).
#[cfg(target_arch = "bpf")]
#[inline(always)]
unsafe fn add_one(n: *mut u64) {
    use core::intrinsics::{atomic_xadd, AtomicOrdering};
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(n, 1) };
}

#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
unsafe fn add_one(n: *mut u64) {
    use core::sync::atomic::{AtomicU64, Ordering};
    unsafe { AtomicU64::from_ptr(n) }.fetch_add(1, Ordering::Relaxed);
}

/// `*word |= bits`, atomically.
#[cfg(target_arch = "bpf")]
#[inline(always)]
unsafe fn set_bits(word: *mut u64, bits: u64) {
    use core::intrinsics::{atomic_or, AtomicOrdering};
    unsafe { atomic_or::<u64, u64, { AtomicOrdering::Relaxed }>(word, bits) };
}

#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
unsafe fn set_bits(word: *mut u64, bits: u64) {
    use core::sync::atomic::{AtomicU64, Ordering};
    unsafe { AtomicU64::from_ptr(word) }.fetch_or(bits, Ordering::Relaxed);
}

#[inline(always)]
fn note(event: u32) {
    if let Some(n) = DAEMON_EVENTS.get_ptr_mut(event) {
        unsafe { *n += 1 };
    }
}
