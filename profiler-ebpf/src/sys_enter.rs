use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_task, bpf_probe_read_kernel},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use profiler_common::{
    OddSyscallKey, ABI_COUNT, ABI_X32, ABI_X86, ABI_X86_64, EVENT_ODD_FULL, EVENT_READ_FAILED,
    SYSCALL_TABLE_SIZE, TS_COMPAT, X32_SYSCALL_BIT,
};

use crate::maps::{note_event, task_offsets, COUNTS, ODD_COUNTS, WATCHED};

/// `sys_enter(struct pt_regs *regs, long id)`. It runs after seccomp has allowed (or logged) the
/// call, so a call that a filter refuses is not counted; one it logs is.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    try_sys_enter(&ctx);
    0
}

#[inline(always)]
fn try_sys_enter(ctx: &RawTracePointContext) {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // The common case, a process nobody watches, costs this one lookup.
    let Some(slot) = (unsafe { WATCHED.get(tgid) }) else {
        return;
    };
    let slot = *slot;
    let id: u64 = ctx.arg(1);
    let (abi, nr) = decode_abi(id);

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

/// Which ABI the current syscall came through, and its number in that ABI's table.
#[inline(always)]
fn decode_abi(id: u64) -> (u32, u64) {
    let task = unsafe { bpf_get_current_task() } as *const u8;
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
