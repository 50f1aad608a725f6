use aya_ebpf::{
    helpers::bpf_get_current_cgroup_id,
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use profiler_common::{
    CgroupSyscallKey, LastTask, OddSyscallKey, ABI_COUNT, CGROUP_NONE, CGROUP_ROOT,
    EVENT_CGROUP_FULL, EVENT_ODD_FULL, SYSCALL_TABLE_SIZE, UNWATCHED,
};

use crate::{
    abi,
    maps::{
        config, generation, note_event, CGROUP_COUNTS, CGROUP_TARGETS, COUNTS, LAST_TASK,
        ODD_COUNTS, WATCHED,
    },
    regs::{RawRegs, Regs, SavedRegs},
    task::{BtfTask, ProbedTask, Task},
};

/// `sys_enter(struct pt_regs *regs, long id)` for recordings of process trees. It runs after
/// seccomp has allowed (or logged) the call, so a call that a filter refuses is not counted; one
/// it logs is. A BTF tracepoint rather than a raw one, for the same hook and cost, because its
/// `regs` can be read with plain loads, which is what lets a watched call usually go without
/// the one helper call it would otherwise need (for the task). Userspace attaches it, or
/// `sys_enter_cgroup`, never both (or their `_510` variants).
#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter(ctx: BtfTracePointContext) -> i32 {
    on_sys_enter::<BtfTask>(&ctx)
}

/// [`sys_enter`] for kernels without `bpf_get_current_task_btf` (5.10).
#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter_510(ctx: BtfTracePointContext) -> i32 {
    on_sys_enter::<ProbedTask>(&ctx)
}

#[inline(always)]
fn on_sys_enter<T: Task>(ctx: &BtfTracePointContext) -> i32 {
    let regs = Regs::new(ctx.arg(0));
    let Some(slot) = cached_process_slot::<T>(regs.address()) else {
        return 0;
    };
    let after_seccomp = config().after_seccomp != 0;
    let by_regs = if after_seccomp {
        None
    } else {
        abi::compat_by_regs(&regs)
    };
    let compat = match by_regs {
        Some(compat) => Some(compat),
        None => abi::admitted_compat(&regs, &T::current(), after_seccomp),
    };
    if let Some(compat) = compat {
        let (abi, nr) = abi::decode(ctx.arg(1), compat);
        count(regs.as_ptr(), slot, abi, nr);
    }
    0
}

/// `sys_enter` for recordings with cgroup targets (`Config::cgroup_mode` is not
/// `CGROUP_NONE`): a separate program, so that without cgroup targets the hot path has not one
/// instruction more. It needs the task on every call anyway.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_cgroup(ctx: RawTracePointContext) -> i32 {
    on_sys_enter_cgroup::<BtfTask>(&ctx)
}

/// [`sys_enter_cgroup`] for kernels without `bpf_get_current_task_btf` (5.10).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_cgroup_510(ctx: RawTracePointContext) -> i32 {
    on_sys_enter_cgroup::<ProbedTask>(&ctx)
}

#[inline(always)]
fn on_sys_enter_cgroup<T: Task>(ctx: &RawTracePointContext) -> i32 {
    let task = T::current();
    let regs = RawRegs::new(ctx.arg(0));
    if let Some(slot) = slot_by_process_or_cgroup(ctx, &regs, task) {
        if let Some((abi, nr)) =
            abi::admitted(ctx.arg(1), &regs, &task, config().after_seccomp != 0)
        {
            count(regs.as_ptr(), slot, abi, nr);
        }
    }
    0
}

/// Counts syscall `nr` of `abi` for `slot`, and learns its argument with `--args`.
#[inline(always)]
fn count(regs: *const u8, slot: u32, abi: u32, nr: u64) {
    if config().args != 0 {
        crate::args::record(regs, u64::from(slot), abi, nr);
    }
    // The table is looked up before `nr` is bounded, so that no helper call comes between the
    // bound and the index: LLVM 23 kept `nr` on the stack across the call and indexed with a
    // reload, which the bound did not cover, and 6.1's verifier (arm64) refused the program.
    let counts = COUNTS.get_ptr_mut(slot * ABI_COUNT + abi);
    if nr < SYSCALL_TABLE_SIZE as u64 {
        if let Some(counts) = counts {
            // The explicit bound above is what lets the verifier accept the index.
            unsafe {
                let entry = (*counts).counts.as_mut_ptr().add(nr as usize);
                *entry += 1;
            }
        }
        return;
    }
    let key = OddSyscallKey { slot, abi, nr };
    match ODD_COUNTS.get_ptr_mut(&key) {
        Some(n) => unsafe { *n += 1 },
        None => {
            if ODD_COUNTS.insert(&key, &1, 0).is_err() {
                note_event(EVENT_ODD_FULL);
            }
        }
    }
}

/// The slot of the calling process, or `None` when it is not watched, through this CPU's
/// one-entry cache: a hit, the common case of a CPU running one process for a while, costs two
/// array lookups the verifier inlines and no call at all. The `pt_regs` argument sits at the
/// top of the task's kernel stack, so its address names the task while the task lives; a
/// stack freed by an exit can name another task later, so every exit (and every change userspace
/// makes to `WATCHED`) moves `GENERATION` on, which invalidates every cached entry. The
/// generation is read before `WATCHED` is, so an entry computed from a table that changed
/// meanwhile carries an already stale generation.
#[inline(always)]
fn cached_process_slot<T: Task>(regs: u64) -> Option<u32> {
    let generation = generation();
    let cache = LAST_TASK.get_ptr_mut(0)?;
    // SAFETY: the entry is this CPU's, and programs on one CPU do not nest.
    let cache = unsafe { &mut *cache };
    if cache.regs == regs && cache.generation == generation {
        return (cache.slot != UNWATCHED).then_some(cache.slot);
    }
    let slot = unsafe { WATCHED.get(&T::current().tgid()) }.copied();
    *cache = LastTask {
        regs,
        generation,
        slot: slot.unwrap_or(UNWATCHED),
        _pad: 0,
    };
    slot
}

/// With cgroup targets, a task's target can change without any exit (it can be moved to
/// another cgroup), so nothing is cached: the process table, then the task's cgroup.
#[inline(always)]
fn slot_by_process_or_cgroup<T: Task>(
    ctx: &RawTracePointContext,
    regs: &RawRegs,
    task: T,
) -> Option<u32> {
    if let Some(slot) = unsafe { WATCHED.get(&task.tgid()) } {
        return Some(*slot);
    }
    // A verifier-known constant (frozen .rodata): only the branch in use is kept.
    let config = config();
    if config.cgroup_mode == CGROUP_NONE {
        return None;
    }
    // Level 0 is the v2 root; a task less deep than the level gets 0, never a target.
    let ancestor = task.ancestor_cgroup_id(config.cgroup_level);
    if config.cgroup_mode == CGROUP_ROOT {
        if ancestor == config.root_id {
            count_in_own_cgroup(ctx, regs, task, config.after_seccomp != 0);
        }
        return None;
    }
    unsafe { CGROUP_TARGETS.get(&ancestor) }.copied()
}

/// Below a cgroup root: counts under the task's own cgroup id, so every cgroup that appears
/// is counted from its first call; userspace maps ids to paths when it writes.
#[inline(always)]
fn count_in_own_cgroup<T: Task>(
    ctx: &RawTracePointContext,
    regs: &RawRegs,
    task: T,
    after_seccomp: bool,
) {
    let Some((abi, nr)) = abi::admitted(ctx.arg(1), regs, &task, after_seccomp) else {
        return;
    };
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    if config().args != 0 {
        crate::args::record(regs.as_ptr(), cgroup, abi, nr);
    }
    let key = CgroupSyscallKey {
        cgroup,
        nr,
        abi,
        _pad: 0,
    };
    match CGROUP_COUNTS.get_ptr_mut(&key) {
        Some(n) => unsafe { *n += 1 },
        None => {
            if CGROUP_COUNTS.insert(&key, &1, 0).is_err() {
                note_event(EVENT_CGROUP_FULL);
            }
        }
    }
}
