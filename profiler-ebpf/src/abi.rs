//! Which ABI a syscall came through, and its number in that ABI's table: the one part of the
//! programs that differs between the architectures they are built for.
#[cfg(bpf_target_arch = "aarch64")]
pub use aarch64::{compat_by_regs, compat_of, decode};
#[cfg(bpf_target_arch = "x86_64")]
pub use x86_64::{compat_by_regs, compat_of, decode};

use crate::{regs::SavedRegs, task::Task};

/// Whether the call is a compat (32-bit) one, or `None` when it does not count because
/// `after_seccomp` asks for calls made under a filter and the task has none.
#[inline(always)]
pub fn admitted_compat<R: SavedRegs, T: Task>(
    regs: &R,
    task: &T,
    after_seccomp: bool,
) -> Option<bool> {
    if after_seccomp && !task.seccomp_filtered() {
        return None;
    }
    Some(compat_of(regs, task))
}

/// The ABI and number of call `id` (the tracepoint's), or `None` as [`admitted_compat`].
#[inline(always)]
pub fn admitted<R: SavedRegs, T: Task>(
    id: u64,
    regs: &R,
    task: &T,
    after_seccomp: bool,
) -> Option<(u32, u64)> {
    admitted_compat(regs, task, after_seccomp).map(|compat| decode(id, compat))
}

#[cfg(bpf_target_arch = "x86_64")]
mod x86_64 {
    use profiler_common::{
        x86_64::{pt_regs, USER_CS, X32_SYSCALL_BIT},
        ABI_COMPAT, ABI_NATIVE, ABI_X32,
    };

    use crate::{
        regs::{Regs, SavedRegs},
        task::Task,
    };

    /// Decided from the typed registers alone when the call bears the marks of the 64-bit
    /// `syscall` instruction: 64-bit code segment, and rcx and r11 holding the return address
    /// and flags, which that instruction (and only it) puts there. A 32-bit call looks different
    /// unless the program forged both registers before an `int $0x80`; that call is then counted
    /// as the 64-bit syscall of the same number, which a profile refuses to the i386 call anyway.
    /// Everything that does not look like `syscall` (i386 entries, registers a ptracer changed)
    /// is left to [`compat_of`].
    #[inline(always)]
    pub fn compat_by_regs(regs: &Regs) -> Option<bool> {
        let syscall_instruction = regs.word(pt_regs::CS) & 0xffff == USER_CS
            && regs.word(pt_regs::CX) == regs.word(pt_regs::IP)
            && regs.word(pt_regs::R11) == regs.word(pt_regs::FLAGS);
        syscall_instruction.then_some(false)
    }

    /// Decided by the task's own `TS_COMPAT` flag (the registers are not read).
    #[inline(always)]
    pub fn compat_of<R: SavedRegs, T: Task>(_regs: &R, task: &T) -> bool {
        task.in_compat_syscall()
    }

    /// `compat` is whether it is a 32-bit call; x32 calls are 64-bit ones with
    /// `X32_SYSCALL_BIT` in the number.
    #[inline(always)]
    pub fn decode(id: u64, compat: bool) -> (u32, u64) {
        if compat {
            return (ABI_COMPAT, id & 0xffff_ffff);
        }
        if id & X32_SYSCALL_BIT != 0 && id >> 32 == 0 {
            (ABI_X32, id & !X32_SYSCALL_BIT)
        } else {
            (ABI_NATIVE, id)
        }
    }
}

#[cfg(bpf_target_arch = "aarch64")]
mod aarch64 {
    use profiler_common::{
        aarch64::{pt_regs, PSR_MODE32_BIT},
        ABI_COMPAT, ABI_NATIVE,
    };

    use crate::regs::{Regs, SavedRegs};

    /// The saved `pstate` always tells: the registers decide every call.
    #[inline(always)]
    pub fn compat_by_regs(regs: &Regs) -> Option<bool> {
        Some(compat_of(regs, &()))
    }

    /// AArch32 calls (`svc` from a 32-bit task, which the kernel dispatches through its compat
    /// table) are the ones whose saved `pstate` has the AArch32 mode bit.
    #[inline(always)]
    pub fn compat_of<R: SavedRegs, T>(regs: &R, _task: &T) -> bool {
        regs.word(pt_regs::PSTATE) & PSR_MODE32_BIT != 0
    }

    /// An AArch32 call's number is r7's, 32 bits.
    #[inline(always)]
    pub fn decode(id: u64, compat: bool) -> (u32, u64) {
        if compat {
            (ABI_COMPAT, id & 0xffff_ffff)
        } else {
            (ABI_NATIVE, id)
        }
    }
}
