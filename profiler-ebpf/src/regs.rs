use aya_ebpf::helpers::bpf_probe_read_kernel;

/// The registers a syscall saved (`struct pt_regs`), read at the offsets of
/// `profiler_common::machine::pt_regs`.
pub trait SavedRegs {
    fn as_ptr(&self) -> *const u8;

    /// The 8-byte word at `offset`.
    fn word(&self, offset: usize) -> u64;
}

/// The registers as `tp_btf/sys_enter` passes them: a typed pointer, so its fields are plain
/// loads (the raw tracepoint passes a number, whose fields would each need a
/// `bpf_probe_read_kernel` call).
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
}

impl SavedRegs for Regs {
    #[inline(always)]
    fn as_ptr(&self) -> *const u8 {
        self.0
    }

    /// Volatile, so the compiler emits exactly one 8-byte load, which is what the verifier
    /// accepts for a BTF pointer.
    #[inline(always)]
    fn word(&self, offset: usize) -> u64 {
        unsafe { core::ptr::read_volatile(self.0.add(offset) as *const u64) }
    }
}

/// The registers as a raw tracepoint passes them: an address, read with
/// `bpf_probe_read_kernel` (0 when that fails).
#[derive(Clone, Copy)]
pub struct RawRegs(*const u8);

impl RawRegs {
    #[inline(always)]
    pub fn new(regs: *const u8) -> RawRegs {
        RawRegs(regs)
    }
}

impl SavedRegs for RawRegs {
    #[inline(always)]
    fn as_ptr(&self) -> *const u8 {
        self.0
    }

    #[inline(always)]
    fn word(&self, offset: usize) -> u64 {
        unsafe { bpf_probe_read_kernel(self.0.add(offset) as *const u64) }.unwrap_or(0)
    }
}
