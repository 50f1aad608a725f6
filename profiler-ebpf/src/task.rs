use aya_ebpf::helpers::bpf_get_current_task_btf;

use profiler_common::{SECCOMP_MODE_FILTER, TS_COMPAT};

use crate::maps::task_offsets;

/// The current task as the verifier's typed (BTF) pointer. Its fields are read with plain loads,
/// which the verifier checks against kernel BTF and the JIT emits as one instruction with an
/// exception-table entry; `bpf_probe_read_kernel` would be a helper call, which on CPUs with
/// return-thunk mitigations costs more than the rest of the hot path.
#[derive(Clone, Copy)]
pub struct Task(*const u8);

impl Task {
    #[inline(always)]
    pub fn current() -> Task {
        Task(unsafe { bpf_get_current_task_btf() } as *const u8)
    }

    /// Volatile, so the compiler emits exactly one load of the field's width, which is what the
    /// verifier accepts for a BTF pointer.
    #[inline(always)]
    fn field<T: Copy>(&self, offset: u32) -> T {
        unsafe { core::ptr::read_volatile(self.0.add(offset as usize) as *const T) }
    }

    /// `task->tgid`
    #[inline(always)]
    pub fn tgid(&self) -> u32 {
        self.field(task_offsets().tgid)
    }

    /// Whether the task is in a 32-bit syscall (`TS_COMPAT` in `task->thread_info.status`).
    #[inline(always)]
    pub fn in_compat_syscall(&self) -> bool {
        self.field::<u32>(task_offsets().thread_status) & TS_COMPAT != 0
    }

    /// Whether the task runs under a seccomp filter (`task->seccomp.mode`). The mode is set, for
    /// every thread with TSYNC, before the installing `seccomp`/`prctl` call returns, so that
    /// call's own entry is not seen as filtered and every later one is.
    #[inline(always)]
    pub fn seccomp_filtered(&self) -> bool {
        self.field::<i32>(task_offsets().seccomp_mode) == SECCOMP_MODE_FILTER
    }
}
