//! Syscall names and numbers per ABI. x86_64 and i386 come from the `syscalls` crate's tables
//! (generated from the kernel's `syscall_*.tbl`); x32 shares x86_64's numbers below 512 and has
//! its own entries from 512 on, listed here because the crate has no x32 table.
use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// An ABI a syscall arrives through on an x86_64 kernel, named as libseccomp names the
/// architecture that a filter must list to match it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Abi {
    #[serde(rename = "SCMP_ARCH_X86_64")]
    X86_64,
    #[serde(rename = "SCMP_ARCH_X86")]
    X86,
    #[serde(rename = "SCMP_ARCH_X32")]
    X32,
}

impl Abi {
    pub const ALL: [Abi; 3] = [Abi::X86_64, Abi::X86, Abi::X32];

    /// The ABI's row in the eBPF `COUNTS` map.
    pub fn index(self) -> u32 {
        match self {
            Abi::X86_64 => profiler_common::ABI_X86_64,
            Abi::X86 => profiler_common::ABI_X86,
            Abi::X32 => profiler_common::ABI_X32,
        }
    }

    pub fn from_index(index: u32) -> Option<Abi> {
        Abi::ALL.into_iter().find(|abi| abi.index() == index)
    }

    /// libseccomp's name for the architecture (`SCMP_ARCH_…`).
    pub fn scmp_arch(self) -> &'static str {
        match self {
            Abi::X86_64 => "SCMP_ARCH_X86_64",
            Abi::X86 => "SCMP_ARCH_X86",
            Abi::X32 => "SCMP_ARCH_X32",
        }
    }

    /// Short name for tables.
    pub fn short_name(self) -> &'static str {
        match self {
            Abi::X86_64 => "x86_64",
            Abi::X86 => "i386",
            Abi::X32 => "x32",
        }
    }

    /// The syscall's name in this ABI's table, if the number names one.
    pub fn name(self, nr: u64) -> Option<&'static str> {
        let nr = usize::try_from(nr).ok()?;
        match self {
            Abi::X86_64 => syscalls::x86_64::Sysno::new(nr).map(|s| s.name()),
            Abi::X86 => syscalls::x86::Sysno::new(nr).map(|s| s.name()),
            Abi::X32 if nr >= X32_FIRST_OWN => X32_OWN.get(nr - X32_FIRST_OWN).copied(),
            // Below 512, x32 uses x86_64's entries, except those it replaced with its own.
            Abi::X32 => syscalls::x86_64::Sysno::new(nr)
                .map(|s| s.name())
                .filter(|name| !X32_OWN.contains(name)),
        }
    }

    /// The syscall's number in this ABI's table (without the x32 bit).
    pub fn number(self, name: &str) -> Option<u64> {
        match self {
            Abi::X86_64 => syscalls::x86_64::Sysno::from_str(name)
                .ok()
                .map(|s| s.id() as u64),
            Abi::X86 => syscalls::x86::Sysno::from_str(name)
                .ok()
                .map(|s| s.id() as u64),
            Abi::X32 => match X32_OWN.iter().position(|own| *own == name) {
                Some(i) => Some((X32_FIRST_OWN + i) as u64),
                None => syscalls::x86_64::Sysno::from_str(name)
                    .ok()
                    .map(|s| s.id() as u64),
            },
        }
    }

    /// Every (number, name) of this ABI's table.
    pub fn table(self) -> Vec<(u64, &'static str)> {
        (0..profiler_common::SYSCALL_TABLE_SIZE as u64)
            .filter_map(|nr| self.name(nr).map(|name| (nr, name)))
            .collect()
    }
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

const X32_FIRST_OWN: usize = 512;
/// arch/x86/entry/syscalls/syscall_64.tbl, entries 512–547 (the `x32` ABI).
const X32_OWN: [&str; 36] = [
    "rt_sigaction",
    "rt_sigreturn",
    "ioctl",
    "readv",
    "writev",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "execve",
    "ptrace",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "sigaltstack",
    "timer_create",
    "mq_notify",
    "kexec_load",
    "waitid",
    "set_robust_list",
    "get_robust_list",
    "vmsplice",
    "move_pages",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "recvmmsg",
    "sendmmsg",
    "process_vm_readv",
    "process_vm_writev",
    "setsockopt",
    "getsockopt",
    "io_setup",
    "io_submit",
    "execveat",
    "preadv2",
    "pwritev2",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i386_numbers_use_the_i386_table() {
        // 64 is getppid on i386 but semget on x86_64: decoding with the wrong table is the
        // classic mistake.
        assert_eq!(Abi::X86.name(64), Some("getppid"));
        assert_eq!(Abi::X86_64.name(64), Some("semget"));
        assert_eq!(Abi::X86_64.name(110), Some("getppid"));
    }

    #[test]
    fn x32_has_its_own_entries_and_drops_the_ones_it_replaced() {
        assert_eq!(Abi::X32.name(520), Some("execve"));
        assert_eq!(Abi::X32.name(547), Some("pwritev2"));
        assert_eq!(Abi::X32.name(59), None, "x32 execve is 520, not 59");
        assert_eq!(Abi::X32.name(0), Some("read"));
        assert_eq!(Abi::X32.number("execve"), Some(520));
        assert_eq!(Abi::X32.number("read"), Some(0));
    }

    #[test]
    fn names_and_numbers_round_trip() {
        for abi in Abi::ALL {
            let table = abi.table();
            assert!(table.len() > 300, "{abi}: only {} entries", table.len());
            for (nr, name) in table {
                assert_eq!(abi.number(name), Some(nr), "{abi} {name}");
            }
        }
    }

    #[test]
    fn unknown_numbers_have_no_name() {
        assert_eq!(Abi::X86_64.name(1000), None);
        assert_eq!(Abi::X86_64.name(u64::MAX), None);
        assert_eq!(Abi::X86_64.number("no_such_syscall"), None);
    }
}
