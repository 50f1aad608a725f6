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
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::bpf_get_current_cgroup_id,
    macros::{map, raw_tracepoint},
    maps::{Array, HashMap, PerCpuArray},
    programs::RawTracePointContext,
};
use profiler_common::{
    CgroupSyscallKey, DaemonInfo, SeenBytes, SeenSyscalls, DAEMON_EVENT_COUNT,
    DAEMON_EVENT_ODD_FULL, DAEMON_EVENT_SEEN_FULL, SEEN_BYTES, SEEN_WORDS, SYSCALL_TABLE_SIZE,
};

use crate::{
    abi,
    maps::config,
    regs::RawRegs,
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

/// Per-CPU counters of what could not be kept (`DAEMON_EVENT_*`).
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

/// A cgroup's entry: which (ABI, number) pairs it has called.
trait Seen: 'static {
    /// Marks syscall `nr` (below `SYSCALL_TABLE_SIZE`) of `abi`.
    ///
    /// # Safety
    /// `seen` points to a map value of this type.
    unsafe fn mark(seen: *mut Self, abi: u32, nr: u64);
}

impl Seen for SeenSyscalls {
    #[inline(always)]
    unsafe fn mark(seen: *mut Self, abi: u32, nr: u64) {
        let word = abi as usize * (SYSCALL_TABLE_SIZE / 64) + (nr as usize >> 6);
        // The explicit bound is what lets the verifier accept the index.
        if word >= SEEN_WORDS {
            return;
        }
        let bit = 1u64 << (nr & 63);
        unsafe {
            let word = (*seen).bits.as_mut_ptr().add(word);
            // Read first: after a cgroup's first call of a syscall nothing is written again.
            if core::ptr::read_volatile(word) & bit == 0 {
                set_bits(word, bit);
            }
        }
    }
}

impl Seen for SeenBytes {
    #[inline(always)]
    unsafe fn mark(seen: *mut Self, abi: u32, nr: u64) {
        let index = abi as usize * SYSCALL_TABLE_SIZE + nr as usize;
        if index >= SEEN_BYTES {
            return;
        }
        unsafe {
            let flag = (*seen).flags.as_mut_ptr().add(index);
            if core::ptr::read_volatile(flag) == 0 {
                core::ptr::write_volatile(flag, 1);
            }
        }
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
        if unsafe { DAEMON_ODD.get(&key) }.is_none() && DAEMON_ODD.insert(&key, &1, 0).is_err() {
            note(DAEMON_EVENT_ODD_FULL);
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
