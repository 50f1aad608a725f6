//! Types shared by the eBPF programs and userspace: map layouts and the values userspace
//! patches into the object before loading it.
#![no_std]

/// Syscall numbers below this are counted in a dense per-CPU table; larger ones (bogus numbers
/// a program passes to `syscall(2)`) go to [`OddSyscallKey`] entries so none is lost.
pub const SYSCALL_TABLE_SIZE: usize = 1024;

/// Bit the x86_64 kernel sets in the number of x32 syscalls (`__X32_SYSCALL_BIT`).
pub const X32_SYSCALL_BIT: u64 = 0x4000_0000;

/// `TS_COMPAT` in x86's `thread_info.status`: set while the task runs a 32-bit syscall, which
/// is the only reliable sign of `int $0x80` from 64-bit code (its `cs` stays the 64-bit one).
pub const TS_COMPAT: u32 = 0x0002;

/// The ABIs a syscall can arrive through on x86_64; the value is its row in the `COUNTS` map.
pub const ABI_X86_64: u32 = 0;
pub const ABI_X86: u32 = 1;
pub const ABI_X32: u32 = 2;
pub const ABI_COUNT: u32 = 3;

/// How many recording targets (a process tree or a cgroup) one loaded tracer tells apart.
pub const MAX_SLOTS: u32 = 64;
/// How many processes of watched trees can be alive at once.
pub const MAX_WATCHED_PROCESSES: u32 = 65_536;
/// Distinct out-of-table syscall numbers kept per tracer.
pub const MAX_ODD_SYSCALLS: u32 = 1024;

/// Per-CPU counts of one target for one ABI, indexed by syscall number. Entry `slot * ABI_COUNT
/// + abi` of the `COUNTS` map.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SyscallCounts {
    pub counts: [u64; SYSCALL_TABLE_SIZE],
}

/// Key of a syscall whose number does not fit the dense table.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OddSyscallKey {
    pub slot: u32,
    pub abi: u32,
    pub nr: u64,
}

/// Offsets inside kernel structures, read from the running kernel's BTF by userspace and patched
/// into the `TASK_OFFSETS` global before load, because field layouts change between kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskOffsets {
    /// `task_struct.tgid`
    pub tgid: u32,
    /// `task_struct.thread_info.status` (x86)
    pub thread_status: u32,
    /// `task_struct.signal`
    pub signal: u32,
    /// `signal_struct.live`: the number of live threads; 0 once the whole group is exiting.
    pub signal_live: u32,
}

/// Indices into the `EVENTS` per-CPU array: things userspace must report rather than lose.
pub const EVENT_WATCH_FULL: u32 = 0;
pub const EVENT_ODD_FULL: u32 = 1;
pub const EVENT_READ_FAILED: u32 = 2;
pub const EVENT_COUNT: u32 = 3;

#[cfg(feature = "user")]
mod user {
    use super::*;
    unsafe impl aya::Pod for SyscallCounts {}
    unsafe impl aya::Pod for OddSyscallKey {}
    unsafe impl aya::Pod for TaskOffsets {}
}
