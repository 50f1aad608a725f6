use aya_ebpf::{
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id, bpf_get_current_pid_tgid,
        bpf_get_current_task, bpf_probe_read_kernel,
    },
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use profiler_common::{
    CgroupSyscallKey, OddSyscallKey, ABI_COUNT, ABI_X32, ABI_X86, ABI_X86_64, CGROUP_NONE,
    CGROUP_ROOT, EVENT_CGROUP_FULL, EVENT_ODD_FULL, EVENT_READ_FAILED, SECCOMP_MODE_FILTER,
    SYSCALL_TABLE_SIZE, TS_COMPAT, X32_SYSCALL_BIT,
};

use crate::maps::{
    config, note_event, task_offsets, CGROUP_COUNTS, CGROUP_TARGETS, COUNTS, ODD_COUNTS, WATCHED,
};

/// `sys_enter(struct pt_regs *regs, long id)`. It runs after seccomp has allowed (or logged) the
/// call, so a call that a filter refuses is not counted; one it logs is. This one watches
/// process trees only; userspace attaches it, or `sys_enter_cgroup`, never both.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    try_sys_enter::<false>(&ctx);
    0
}

/// `sys_enter` for recordings with cgroup targets (`Config::cgroup_mode` is not
/// `CGROUP_NONE`): a separate program, so that without cgroup targets the hot path has not one
/// instruction more.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_cgroup(ctx: RawTracePointContext) -> i32 {
    try_sys_enter::<true>(&ctx);
    0
}

#[inline(always)]
fn try_sys_enter<const CGROUPS: bool>(ctx: &RawTracePointContext) {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // The common case, a process nobody watches, costs this one lookup, plus with cgroup
    // targets one helper call and one lookup (targets) or comparison (root).
    let slot = match unsafe { WATCHED.get(tgid) } {
        Some(slot) => *slot,
        None => {
            if !CGROUPS {
                return;
            }
            // A verifier-known constant (frozen .rodata): only the branch in use is kept.
            let config = config();
            if config.cgroup_mode == CGROUP_NONE {
                return;
            }
            // Level 0 is the v2 root; a task less deep than the level gets 0, never a target.
            let ancestor =
                unsafe { bpf_get_current_ancestor_cgroup_id(config.cgroup_level as i32) };
            if config.cgroup_mode == CGROUP_ROOT {
                if ancestor != config.root_id {
                    return;
                }
                count_in_own_cgroup(ctx, config.after_seccomp != 0);
                return;
            }
            match unsafe { CGROUP_TARGETS.get(ancestor) } {
                Some(slot) => *slot,
                None => return,
            }
        }
    };
    let task = unsafe { bpf_get_current_task() } as *const u8;
    if config().after_seccomp != 0 && !seccomp_filtered(task) {
        return;
    }
    let id: u64 = ctx.arg(1);
    let (abi, nr) = decode_abi(task, id);

    if nr < SYSCALL_TABLE_SIZE as u64 {
        if let Some(counts) = COUNTS.get_ptr_mut(slot * ABI_COUNT + abi) {
            // The explicit bound above is what lets the verifier accept the index.
            unsafe {
                let entry = (*counts).counts.as_mut_ptr().add(nr as usize);
                *entry += 1;
            }
        }
        return;
    }
    let key = OddSyscallKey { slot, abi, nr };
    match ODD_COUNTS.get_ptr_mut(key) {
        Some(n) => unsafe { *n += 1 },
        None => {
            if ODD_COUNTS.insert(key, 1, 0).is_err() {
                note_event(EVENT_ODD_FULL);
            }
        }
    }
}

/// Below a cgroup root: counts under the task's own cgroup id, so every cgroup that appears
/// is counted from its first call; userspace maps ids to paths when it writes.
#[inline(always)]
fn count_in_own_cgroup(ctx: &RawTracePointContext, after_seccomp: bool) {
    let task = unsafe { bpf_get_current_task() } as *const u8;
    if after_seccomp && !seccomp_filtered(task) {
        return;
    }
    let id: u64 = ctx.arg(1);
    let (abi, nr) = decode_abi(task, id);
    let key = CgroupSyscallKey {
        cgroup: unsafe { bpf_get_current_cgroup_id() },
        nr,
        abi,
        _pad: 0,
    };
    match CGROUP_COUNTS.get_ptr_mut(key) {
        Some(n) => unsafe { *n += 1 },
        None => {
            if CGROUP_COUNTS.insert(key, 1, 0).is_err() {
                note_event(EVENT_CGROUP_FULL);
            }
        }
    }
}

/// Whether the current task runs under a seccomp filter (`task->seccomp.mode ==
/// SECCOMP_MODE_FILTER`). The mode is set, for every thread with TSYNC, before the installing
/// `seccomp`/`prctl` call returns, so its own entry is not counted and every later call is.
#[inline(always)]
pub(crate) fn seccomp_filtered(task: *const u8) -> bool {
    let mode_ptr = unsafe { task.add(task_offsets().seccomp_mode as usize) } as *const i32;
    match unsafe { bpf_probe_read_kernel(mode_ptr) } {
        Ok(mode) => mode == SECCOMP_MODE_FILTER,
        Err(_) => {
            note_event(EVENT_READ_FAILED);
            false
        }
    }
}

/// Which ABI the current syscall came through, and its number in that ABI's table.
#[inline(always)]
pub(crate) fn decode_abi(task: *const u8, id: u64) -> (u32, u64) {
    let status_ptr = unsafe { task.add(task_offsets().thread_status as usize) } as *const u32;
    match unsafe { bpf_probe_read_kernel(status_ptr) } {
        Ok(status) if status & TS_COMPAT != 0 => return (ABI_X86, id & 0xffff_ffff),
        Ok(_) => {}
        Err(_) => note_event(EVENT_READ_FAILED),
    }
    if id & X32_SYSCALL_BIT != 0 && id >> 32 == 0 {
        (ABI_X32, id & !X32_SYSCALL_BIT)
    } else {
        (ABI_X86_64, id)
    }
}
