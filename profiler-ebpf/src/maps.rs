use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    helpers::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
    macros::map,
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap},
};
use profiler_common::{
    ArgSet, ArgSetKey, ArgValueKey, CgroupSyscallKey, Config, LastTask, OddSyscallKey,
    SyscallCounts, TaskOffsets, ABI_COUNT, CGROUP_NONE, EVENT_COUNT, MAX_ARG_ENTRIES, MAX_ARG_SETS,
    MAX_CGROUP_COUNTS, MAX_CGROUP_TARGETS, MAX_ODD_SYSCALLS, MAX_SLOTS, MAX_WATCHED_PROCESSES,
};

/// Watched processes: tgid → slot of the target they belong to. Keyed by tgid so that threads
/// need no entries of their own. Not preallocated: creating 65,536 entries up front took ~2 ms
/// of every start, and entries come and go only with forks and exits of watched processes.
#[map]
pub static WATCHED: HashMap<u32, u32> =
    HashMap::with_max_entries(MAX_WATCHED_PROCESSES, BPF_F_NO_PREALLOC);

/// Each CPU's last process-tree decision (see `sys_enter::cached_process_slot`).
#[map]
pub static LAST_TASK: PerCpuArray<LastTask> = PerCpuArray::with_max_entries(1, 0);

/// Moved on by every exit and by userspace after it changes `WATCHED`; `LAST_TASK` entries of
/// another generation are stale.
#[map]
pub static GENERATION: Array<u64> = Array::with_max_entries(1, 0);

/// Dense counts, entry `slot * ABI_COUNT + abi`. Per-CPU so that threads on several CPUs never
/// contend for a cache line.
#[map]
pub static COUNTS: PerCpuArray<SyscallCounts> =
    PerCpuArray::with_max_entries(MAX_SLOTS * ABI_COUNT, 0);

/// Counts of syscall numbers beyond the dense table.
#[map]
pub static ODD_COUNTS: PerCpuHashMap<OddSyscallKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_ODD_SYSCALLS, 0);

/// Cgroup targets (`CGROUP_TARGETS` mode): id of the ancestor at `Config::cgroup_level` → slot.
#[map]
pub static CGROUP_TARGETS: HashMap<u64, u32> = HashMap::with_max_entries(MAX_CGROUP_TARGETS, 0);

/// Counts below a cgroup root (`CGROUP_ROOT` mode), keyed by the task's own cgroup id, so a
/// cgroup is counted from its first syscall without userspace having to discover it first.
#[map]
pub static CGROUP_COUNTS: PerCpuHashMap<CgroupSyscallKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_CGROUP_COUNTS, 0);

/// Per-CPU counters of events that would otherwise lose data silently (see `EVENT_*`).
#[map]
pub static EVENTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(EVENT_COUNT, 0);

/// Patched by userspace before load.
#[unsafe(no_mangle)]
pub static TASK_OFFSETS: TaskOffsets = TaskOffsets {
    tgid: 0,
    thread_status: 0,
    signal: 0,
    signal_live: 0,
    seccomp_mode: 0,
    task_cgroups: 0,
    css_set_dfl_cgrp: 0,
    cgroup_level: 0,
    cgroup_ancestors: 0,
    ancestor_pointers: 0,
    cgroup_kn: 0,
    kernfs_node_id: 0,
};

/// Patched by userspace before load. It lives in `.rodata`, which aya freezes after load, so the
/// verifier reads each field as a known constant and prunes the branches this recording does
/// not use.
#[unsafe(no_mangle)]
static CONFIG: Config = Config {
    cgroup_mode: CGROUP_NONE,
    cgroup_level: 0,
    root_id: 0,
    after_seccomp: 0,
    log: 0,
    args: 0,
    _pad: 0,
};

#[inline(always)]
pub fn config() -> Config {
    // Volatile for the same reason as `task_offset!`: the value is the patched one.
    unsafe { core::ptr::read_volatile(&CONFIG) }
}

/// One field of the patched `TASK_OFFSETS`, read alone: volatile, so the compiler does not fold
/// the zero initialiser into the code, and one field, because a volatile read of the struct
/// would load every field wherever one is needed.
macro_rules! task_offset {
    ($field:ident) => {
        crate::maps::read_offset(core::ptr::addr_of!(crate::maps::TASK_OFFSETS.$field))
    };
}
pub(crate) use task_offset;

#[inline(always)]
pub fn read_offset(field: *const u32) -> u32 {
    // SAFETY: a field of a static.
    unsafe { core::ptr::read_volatile(field) }
}

#[inline(always)]
pub fn generation() -> u64 {
    GENERATION.get(0).copied().unwrap_or(0)
}

/// Invalidates every CPU's `LAST_TASK` entry. BPF has no atomic add in Rust's `core`, so
/// instead of counting, each writer stores a value no other writer stores (the time, tagged with
/// the CPU; userspace tags with `GENERATION_USER`): whatever store lands last, the value
/// differs from every generation an older entry carries.
#[inline(always)]
pub fn next_generation() {
    let now = unsafe { bpf_ktime_get_ns() };
    let cpu = unsafe { bpf_get_smp_processor_id() };
    if let Some(generation) = GENERATION.get_ptr_mut(0) {
        unsafe { core::ptr::write_volatile(generation, now << 8 | u64::from(cpu & 0x7f)) };
    }
}

#[inline(always)]
pub fn note_event(event: u32) {
    if let Some(n) = EVENTS.get_ptr_mut(event) {
        unsafe { *n += 1 };
    }
}

/// `record --args`: the distinct learned values, (target, kind, value) → 1. Userspace creates it
/// with one entry when the recording does not learn arguments.
#[map]
pub static ARG_VALUES: HashMap<ArgValueKey, u8> = HashMap::with_max_entries(MAX_ARG_ENTRIES, 0);

/// `record --args`: per (target, kind), how many values `ARG_VALUES` holds and whether one was
/// not kept, so that one noisy syscall cannot fill the map for the others.
#[map]
pub static ARG_SETS: HashMap<ArgSetKey, ArgSet> = HashMap::with_max_entries(MAX_ARG_SETS, 0);
