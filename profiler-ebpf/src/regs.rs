use profiler_common::{pt_regs, USER_CS};

/// The registers a syscall saved (`struct pt_regs`), as `tp_btf/sys_enter` passes them: a typed
/// pointer, so its fields are plain loads (the raw tracepoint passes a number, whose fields
/// would each need a `bpf_probe_read_kernel` call).
#[derive(Clone, Copy)]
pub struct Regs(*const u8);

impl Regs {
    #[inline(always)]
    pub fn new(regs: *const u8) -> Regs {
        Regs(regs)
    }

    /// Where they are: at the top of the task's kernel stack, so the address names the task.
    #[inline(always)]
    pub fn address(&self) -> u64 {
        self.0 as u64
    }

    #[inline(always)]
    pub fn as_ptr(&self) -> *const u8 {
        self.0
    }

    /// Volatile, so the compiler emits exactly one 8-byte load, which is what the verifier
    /// accepts for a BTF pointer.
    #[inline(always)]
    fn word(&self, offset: usize) -> u64 {
        unsafe { core::ptr::read_volatile(self.0.add(offset) as *const u64) }
    }

    /// Whether the call bears the marks of the 64-bit `syscall` instruction: 64-bit code
    /// segment, and rcx and r11 holding the return address and flags, which that instruction
    /// (and only it) puts there. A 32-bit call looks different unless the program forged both
    /// registers before an `int $0x80`; that call is then counted as the 64-bit syscall of the
    /// same number, which a profile refuses to the i386 call anyway. Everything that does not
    /// look like `syscall` (i386 entries, registers a ptracer changed) is left to the task's
    /// `TS_COMPAT` flag.
    #[inline(always)]
    pub fn entered_by_syscall_instruction(&self) -> bool {
        self.word(pt_regs::CS) & 0xffff == USER_CS
            && self.word(pt_regs::CX) == self.word(pt_regs::IP)
            && self.word(pt_regs::R11) == self.word(pt_regs::FLAGS)
    }
}
