use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use aya_log_ebpf::debug;
use profiler_common::EVENT_READ_FAILED;

use crate::maps::{config, next_generation, note_event, task_offset, WATCHED};

/// `sched_process_exit(struct task_struct *p, …)`, run by every exiting thread. When the last
/// thread of a watched process goes, its entry goes too, so a reused pid is never counted. The
/// group's `signal->live` is read instead of the tracepoint's `group_dead` argument, which only
/// exists since 6.16.
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(ctx: RawTracePointContext) -> i32 {
    if try_sched_process_exit(&ctx).is_err() {
        note_event(EVENT_READ_FAILED);
    }
    0
}

fn try_sched_process_exit(ctx: &RawTracePointContext) -> Result<(), i64> {
    // Whatever the task, its kernel stack may soon belong to another one.
    next_generation();
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if unsafe { WATCHED.get(&tgid) }.is_none() {
        return Ok(());
    }
    let task: *const u8 = ctx.arg(0);
    let signal: *const u8 = unsafe {
        bpf_probe_read_kernel(task.add(task_offset!(signal) as usize) as *const *const u8)?
    };
    let live: i32 = unsafe {
        bpf_probe_read_kernel(signal.add(task_offset!(signal_live) as usize) as *const i32)?
    };
    if live == 0 {
        let _ = WATCHED.remove(&tgid);
        if config().log != 0 {
            debug!(ctx, "process {} exited", tgid);
        }
    }
    Ok(())
}
