use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use aya_log_ebpf::{debug, error};
use profiler_common::{EVENT_READ_FAILED, EVENT_WATCH_FULL};

use crate::maps::{config, note_event, task_offset, WATCHED};

/// `sched_process_fork(struct task_struct *parent, struct task_struct *child)`. It runs in the
/// parent before the child can run, so a child of a watched process is watched from its first
/// instruction.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    match try_sched_process_fork(&ctx) {
        Ok(()) => 0,
        Err(event) => {
            note_event(event);
            // Counted in EVENTS either way, and reported by userspace.
            if config().log != 0 {
                error!(&ctx, "lost a child of a watched process (event {})", event);
            }
            0
        }
    }
}

fn try_sched_process_fork(ctx: &RawTracePointContext) -> Result<(), u32> {
    let parent_tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let Some(slot) = (unsafe { WATCHED.get(&parent_tgid) }) else {
        return Ok(());
    };
    let slot = *slot;
    let child: *const u8 = ctx.arg(1);
    let tgid_ptr = unsafe { child.add(task_offset!(tgid) as usize) } as *const u32;
    let child_tgid = unsafe { bpf_probe_read_kernel(tgid_ptr) }.map_err(|_| EVENT_READ_FAILED)?;
    // A new thread shares its parent's tgid, which is already watched.
    if child_tgid != parent_tgid {
        WATCHED
            .insert(&child_tgid, &slot, 0)
            .map_err(|_| EVENT_WATCH_FULL)?;
        if config().log != 0 {
            debug!(
                ctx,
                "watching {} (child of {}) in slot {}", child_tgid, parent_tgid, slot
            );
        }
    }
    Ok(())
}
