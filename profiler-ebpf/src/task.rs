use aya_ebpf::helpers::{
    bpf_get_current_ancestor_cgroup_id, bpf_get_current_pid_tgid, bpf_get_current_task,
    bpf_get_current_task_btf, bpf_probe_read_kernel,
};
use profiler_common::{EVENT_READ_FAILED, SECCOMP_MODE_FILTER};

use crate::maps::{note_event, task_offset};

/// The current task, as each variant of the programs reaches it: [`BtfTask`] where the kernel
/// has `bpf_get_current_task_btf` (5.11) and lets tracing programs call
/// `bpf_get_current_ancestor_cgroup_id` (5.14), [`ProbedTask`] otherwise. Every program that
/// reads the task is generic over it, so both variants count alike.
pub trait Task: Copy {
    fn current() -> Self;

    /// `task->tgid`
    fn tgid(&self) -> u32;

    /// Whether the task is in a 32-bit syscall (`TS_COMPAT` in `task->thread_info.status`).
    #[cfg(bpf_target_arch = "x86_64")]
    fn in_compat_syscall(&self) -> bool;

    /// Whether the task runs under a seccomp filter (`task->seccomp.mode`). The mode is set, for
    /// every thread with TSYNC, before the installing `seccomp`/`prctl` call returns, so that
    /// call's own entry is not seen as filtered and every later one is.
    fn seccomp_filtered(&self) -> bool;

    /// The id of the task's cgroup v2 ancestor at depth `level` below the root (the root is
    /// level 0), or 0 when the task's cgroup is less deep.
    fn ancestor_cgroup_id(&self, level: u32) -> u64;
}

/// The current task as the verifier's typed (BTF) pointer. Its fields are read with plain loads,
/// which the verifier checks against kernel BTF and the JIT emits as one instruction with an
/// exception-table entry; `bpf_probe_read_kernel` would be a helper call, which on CPUs with
/// return-thunk mitigations costs more than the rest of the hot path.
#[derive(Clone, Copy)]
pub struct BtfTask(*const u8);

impl BtfTask {
    /// Volatile, so the compiler emits exactly one load of the field's width, which is what the
    /// verifier accepts for a BTF pointer.
    #[inline(always)]
    fn field<T: Copy>(&self, offset: u32) -> T {
        unsafe { core::ptr::read_volatile(self.0.add(offset as usize) as *const T) }
    }
}

impl Task for BtfTask {
    #[inline(always)]
    fn current() -> BtfTask {
        BtfTask(unsafe { bpf_get_current_task_btf() } as *const u8)
    }

    #[inline(always)]
    fn tgid(&self) -> u32 {
        self.field(task_offset!(tgid))
    }

    #[cfg(bpf_target_arch = "x86_64")]
    #[inline(always)]
    fn in_compat_syscall(&self) -> bool {
        self.field::<u32>(task_offset!(thread_status)) & profiler_common::x86_64::TS_COMPAT != 0
    }

    #[inline(always)]
    fn seccomp_filtered(&self) -> bool {
        self.field::<i32>(task_offset!(seccomp_mode)) == SECCOMP_MODE_FILTER
    }

    #[inline(always)]
    fn ancestor_cgroup_id(&self, level: u32) -> u64 {
        unsafe { bpf_get_current_ancestor_cgroup_id(level as i32) }
    }
}

/// The current task as a plain address (`bpf_get_current_task`), for 5.10: every field is a
/// `bpf_probe_read_kernel` call. A read that fails (it cannot, for the current task) counts as
/// a read failure and gives 0, as a faulting BTF load would.
#[derive(Clone, Copy)]
pub struct ProbedTask(*const u8);

impl ProbedTask {
    #[inline(always)]
    fn field<T: Copy + Default>(&self, offset: u32) -> T {
        read(self.0, offset as usize)
    }
}

/// `*(base + offset)`, 0 (and a read failure counted) when it cannot be read.
#[inline(always)]
fn read<T: Copy + Default>(base: *const u8, offset: usize) -> T {
    match unsafe { bpf_probe_read_kernel(base.add(offset) as *const T) } {
        Ok(value) => value,
        Err(_) => {
            note_event(EVENT_READ_FAILED);
            T::default()
        }
    }
}

impl Task for ProbedTask {
    #[inline(always)]
    fn current() -> ProbedTask {
        ProbedTask(unsafe { bpf_get_current_task() } as *const u8)
    }

    /// The helper gives the current task's tgid without a read of the task.
    #[inline(always)]
    fn tgid(&self) -> u32 {
        (bpf_get_current_pid_tgid() >> 32) as u32
    }

    #[cfg(bpf_target_arch = "x86_64")]
    #[inline(always)]
    fn in_compat_syscall(&self) -> bool {
        self.field::<u32>(task_offset!(thread_status)) & profiler_common::x86_64::TS_COMPAT != 0
    }

    #[inline(always)]
    fn seccomp_filtered(&self) -> bool {
        self.field::<i32>(task_offset!(seccomp_mode)) == SECCOMP_MODE_FILTER
    }

    /// What the helper does (`cgroup_ancestor(task_dfl_cgroup(current), level)`), read by hand.
    #[inline(always)]
    fn ancestor_cgroup_id(&self, level: u32) -> u64 {
        let css_set = self.field::<u64>(task_offset!(task_cgroups)) as *const u8;
        let cgroup = read::<u64>(css_set, task_offset!(css_set_dfl_cgrp) as usize) as *const u8;
        if cgroup.is_null()
            || read::<i32>(cgroup, task_offset!(cgroup_level) as usize) < level as i32
        {
            return 0;
        }
        let slot = task_offset!(cgroup_ancestors) as usize + level as usize * 8;
        if task_offset!(ancestor_pointers) == 0 {
            return read(cgroup, slot);
        }
        let ancestor = read::<u64>(cgroup, slot) as *const u8;
        let kn = read::<u64>(ancestor, task_offset!(cgroup_kn) as usize) as *const u8;
        read(kn, task_offset!(kernfs_node_id) as usize)
    }
}
