//! Syscall names and numbers per architecture. x86_64, i386, aarch64 and arm come from the
//! `syscalls` crate's tables (generated from the kernel's `syscall_*.tbl`); x32 shares x86_64's
//! numbers below 512 and has its own entries from 512 on, and arm has its private calls from
//! 0x0f0000 on, both listed here because the crate's tables lack them.
use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Set in the number of every x32 syscall (`__X32_SYSCALL_BIT`), which shares x86_64's audit
/// architecture: the kernel side's constant, in the 32 bits of seccomp's `nr`.
pub const X32_SYSCALL_BIT: u32 = profiler_common::x86_64::X32_SYSCALL_BIT as u32;

/// A seccomp architecture, by libseccomp's name. On an x86_64 kernel a syscall arrives through
/// one of three of them (x86_64, i386 via `int $0x80`, x32), on an arm64 kernel through one of
/// two (aarch64, and arm from 32-bit tasks); profiles may name any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Arch {
    #[serde(rename = "SCMP_ARCH_X86_64")]
    X86_64,
    #[serde(rename = "SCMP_ARCH_X86")]
    X86,
    #[serde(rename = "SCMP_ARCH_X32")]
    X32,
    #[serde(rename = "SCMP_ARCH_AARCH64")]
    Aarch64,
    #[serde(rename = "SCMP_ARCH_ARM")]
    Arm,
    #[serde(rename = "SCMP_ARCH_MIPS")]
    Mips,
    #[serde(rename = "SCMP_ARCH_MIPSEL")]
    Mipsel,
    #[serde(rename = "SCMP_ARCH_MIPS64")]
    Mips64,
    #[serde(rename = "SCMP_ARCH_MIPSEL64")]
    Mipsel64,
    #[serde(rename = "SCMP_ARCH_MIPS64N32")]
    Mips64n32,
    #[serde(rename = "SCMP_ARCH_MIPSEL64N32")]
    Mipsel64n32,
    #[serde(rename = "SCMP_ARCH_PPC")]
    Ppc,
    #[serde(rename = "SCMP_ARCH_PPC64")]
    Ppc64,
    #[serde(rename = "SCMP_ARCH_PPC64LE")]
    Ppc64le,
    #[serde(rename = "SCMP_ARCH_S390")]
    S390,
    #[serde(rename = "SCMP_ARCH_S390X")]
    S390x,
    #[serde(rename = "SCMP_ARCH_PARISC")]
    Parisc,
    #[serde(rename = "SCMP_ARCH_PARISC64")]
    Parisc64,
    #[serde(rename = "SCMP_ARCH_RISCV64")]
    Riscv64,
    #[serde(rename = "SCMP_ARCH_LOONGARCH64")]
    Loongarch64,
    #[serde(rename = "SCMP_ARCH_M68K")]
    M68k,
    #[serde(rename = "SCMP_ARCH_SH")]
    Sh,
    #[serde(rename = "SCMP_ARCH_SHEB")]
    Sheb,
}

impl Arch {
    /// The ABIs the recorder tells apart on this machine's kernel, in the order of its count
    /// rows (`ABI_NATIVE`, `ABI_COMPAT`, `ABI_X32`).
    #[cfg(target_arch = "x86_64")]
    pub const RECORDED: &'static [Arch] = &[Arch::X86_64, Arch::X86, Arch::X32];
    #[cfg(target_arch = "aarch64")]
    pub const RECORDED: &'static [Arch] = &[Arch::Aarch64, Arch::Arm];

    /// This machine's own ABI, and the 32-bit one its kernel also runs.
    pub const NATIVE: Arch = Arch::RECORDED[profiler_common::ABI_NATIVE as usize];
    pub const COMPAT: Arch = Arch::RECORDED[profiler_common::ABI_COMPAT as usize];

    /// The ABI's row in the eBPF `COUNTS` map, for the ABIs the recorder tells apart.
    pub fn index(self) -> Option<u32> {
        Arch::RECORDED
            .iter()
            .position(|&arch| arch == self)
            .map(|i| i as u32)
    }

    pub fn from_index(index: u32) -> Option<Arch> {
        Arch::RECORDED.get(index as usize).copied()
    }

    /// libseccomp's name for the architecture (`SCMP_ARCH_…`).
    pub fn scmp_name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .expect("every Arch has a serde name")
    }

    /// Short name for tables and messages.
    pub fn short_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X86 => "i386",
            Arch::X32 => "x32",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
            Arch::Mips => "mips",
            Arch::Mipsel => "mipsel",
            Arch::Mips64 => "mips64",
            Arch::Mipsel64 => "mipsel64",
            Arch::Mips64n32 => "mips64n32",
            Arch::Mipsel64n32 => "mipsel64n32",
            Arch::Ppc => "ppc",
            Arch::Ppc64 => "ppc64",
            Arch::Ppc64le => "ppc64le",
            Arch::S390 => "s390",
            Arch::S390x => "s390x",
            Arch::Parisc => "parisc",
            Arch::Parisc64 => "parisc64",
            Arch::Riscv64 => "riscv64",
            Arch::Loongarch64 => "loongarch64",
            Arch::M68k => "m68k",
            Arch::Sh => "sh",
            Arch::Sheb => "sheb",
        }
    }

    /// Whether this build has the architecture's syscall table.
    pub fn has_table(self) -> bool {
        matches!(
            self,
            Arch::X86_64 | Arch::X86 | Arch::X32 | Arch::Aarch64 | Arch::Arm
        )
    }

    /// The syscall's name in this architecture's table, if the number names one.
    pub fn name(self, nr: u64) -> Option<&'static str> {
        let nr = usize::try_from(nr).ok()?;
        match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::new(nr).map(|s| s.name()),
            Arch::X86 => syscalls::x86::Sysno::new(nr).map(|s| s.name()),
            Arch::Aarch64 if nr == AARCH64_NEWFSTATAT => Some("newfstatat"),
            Arch::Aarch64 if AARCH64_32_BIT_ONLY.contains(&nr) => None,
            Arch::Aarch64 => syscalls::aarch64::Sysno::new(nr).map(|s| s.name()),
            Arch::Arm if nr > ARM_PRIVATE_BASE => {
                ARM_PRIVATE.get(nr - ARM_PRIVATE_BASE - 1).copied()
            }
            Arch::Arm => syscalls::arm::Sysno::new(nr).map(|s| s.name()),
            Arch::X32 if nr >= X32_FIRST_OWN => X32_OWN.get(nr - X32_FIRST_OWN).copied(),
            // Below 512, x32 uses x86_64's entries, except the 64-bit-only ones.
            Arch::X32 => syscalls::x86_64::Sysno::new(nr)
                .map(|s| s.name())
                .filter(|name| !X32_OWN.contains(name) && !X32_LACKS.contains(name)),
            _ => None,
        }
    }

    /// The syscall's number in this architecture's table (for x32 without the x32 bit).
    pub fn number(self, name: &str) -> Option<u64> {
        match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::from_str(name)
                .ok()
                .map(|s| s.id() as u64),
            Arch::X86 => syscalls::x86::Sysno::from_str(name)
                .ok()
                .map(|s| s.id() as u64),
            Arch::Aarch64 if name == "newfstatat" => Some(AARCH64_NEWFSTATAT as u64),
            Arch::Aarch64 => syscalls::aarch64::Sysno::from_str(name)
                .ok()
                .map(|s| s.id() as usize)
                .filter(|nr| *nr != AARCH64_NEWFSTATAT && !AARCH64_32_BIT_ONLY.contains(nr))
                .map(|nr| nr as u64),
            Arch::Arm => match ARM_PRIVATE.iter().position(|own| *own == name) {
                Some(i) => Some((ARM_PRIVATE_BASE + 1 + i) as u64),
                None => syscalls::arm::Sysno::from_str(name)
                    .ok()
                    .map(|s| s.id() as u64),
            },
            Arch::X32 => match X32_OWN.iter().position(|own| *own == name) {
                Some(i) => Some((X32_FIRST_OWN + i) as u64),
                None if X32_LACKS.contains(&name) => None,
                None => syscalls::x86_64::Sysno::from_str(name)
                    .ok()
                    .map(|s| s.id() as u64),
            },
            _ => None,
        }
    }

    /// Every (number, name) of this architecture's table.
    pub fn table(self) -> Vec<(u64, &'static str)> {
        let private = (self == Arch::Arm)
            .then(|| ARM_PRIVATE_BASE as u64 + 1..=(ARM_PRIVATE_BASE + ARM_PRIVATE.len()) as u64);
        (0..profiler_common::SYSCALL_TABLE_SIZE as u64)
            .chain(private.into_iter().flatten())
            .filter_map(|nr| self.name(nr).map(|name| (nr, name)))
            .collect()
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

/// The `syscalls` crate's aarch64 table comes from asm-generic's unistd.h as a 32-bit build
/// reads it: 79 is named `fstatat` there, which 64-bit kernels, strace and libseccomp call
/// `newfstatat`, and 403–423 are the `*_time64` calls only 32-bit architectures have.
const AARCH64_NEWFSTATAT: usize = 79;
const AARCH64_32_BIT_ONLY: std::ops::RangeInclusive<usize> = 403..=423;

/// `__ARM_NR_BASE`: arm's private calls are numbered from one above it.
const ARM_PRIVATE_BASE: usize = 0x0f_0000;
/// arch/arm/include/uapi/asm/unistd.h, `__ARM_NR_breakpoint` (base + 1) to `__ARM_NR_get_tls`
/// (base + 6); libseccomp's arm table names them too. glibc sets a thread's TLS with `set_tls`,
/// so every arm program calls one of them.
const ARM_PRIVATE: [&str; 6] = [
    "breakpoint",
    "cacheflush",
    "usr26",
    "usr32",
    "set_tls",
    "get_tls",
];

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

/// Entries of syscall_64.tbl marked `64` (not `common`) that x32 has no version of.
const X32_LACKS: [&str; 12] = [
    "uselib",
    "_sysctl",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "nfsservctl",
    "set_thread_area",
    "get_thread_area",
    "epoll_ctl_old",
    "epoll_wait_old",
    "vserver",
    "map_shadow_stack",
];

/// The seccomp architecture of this build, as moby's `runtime.GOARCH` lookup finds it.
pub fn native_arch() -> Option<Arch> {
    let little = cfg!(target_endian = "little");
    Some(match std::env::consts::ARCH {
        "x86_64" => Arch::X86_64,
        "x86" => Arch::X86,
        "aarch64" => Arch::Aarch64,
        "arm" => Arch::Arm,
        "riscv64" => Arch::Riscv64,
        "s390x" => Arch::S390x,
        "loongarch64" => Arch::Loongarch64,
        "powerpc64" if little => Arch::Ppc64le,
        "powerpc64" => Arch::Ppc64,
        "powerpc" => Arch::Ppc,
        "mips64" if little => Arch::Mipsel64,
        "mips64" => Arch::Mips64,
        "mips" if little => Arch::Mipsel,
        "mips" => Arch::Mips,
        _ => return None,
    })
}

/// moby's name for a native architecture, the strings `includes.arches`/`excludes.arches`
/// hold (moby `goToNative`/`nativeToSeccomp`; containers/common uses libseccomp's names, which
/// are the same for every architecture moby's default profile mentions).
pub fn moby_arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "amd64",
        Arch::X86 => "x86",
        Arch::Aarch64 => "arm64",
        other => other.short_name(),
    }
}

/// Every architecture libseccomp knows, in its order.
pub const ALL_ARCHES: [Arch; 23] = [
    Arch::X86_64,
    Arch::X86,
    Arch::X32,
    Arch::Aarch64,
    Arch::Arm,
    Arch::Mips,
    Arch::Mipsel,
    Arch::Mips64,
    Arch::Mipsel64,
    Arch::Mips64n32,
    Arch::Mipsel64n32,
    Arch::Ppc,
    Arch::Ppc64,
    Arch::Ppc64le,
    Arch::S390,
    Arch::S390x,
    Arch::Parisc,
    Arch::Parisc64,
    Arch::Riscv64,
    Arch::Loongarch64,
    Arch::M68k,
    Arch::Sh,
    Arch::Sheb,
];

/// The architecture an `arches` string names, by moby's/libseccomp's names (plus moby's
/// spelling "mips3l64n32" and libseccomp's "loong64").
pub fn arch_from_moby_name(name: &str) -> Option<Arch> {
    match name {
        "mips3l64n32" => Some(Arch::Mipsel64n32),
        "loong64" => Some(Arch::Loongarch64),
        _ => ALL_ARCHES
            .into_iter()
            .find(|&arch| moby_arch_name(arch) == name),
    }
}

/// An architecture given on the command line: `SCMP_ARCH_X86_64`, `x86_64`, `amd64`, `i386`,
/// `x86`, `aarch64`, `arm64`, … (case-insensitive).
pub fn arch_from_any_name(name: &str) -> Option<Arch> {
    let lower = name.to_ascii_lowercase();
    let lower = lower.strip_prefix("scmp_arch_").unwrap_or(&lower);
    match lower {
        "i386" | "i686" | "386" => return Some(Arch::X86),
        _ => {}
    }
    ALL_ARCHES.into_iter().find(|&arch| {
        arch.short_name() == lower
            || moby_arch_name(arch) == lower
            || arch
                .scmp_name()
                .eq_ignore_ascii_case(&format!("SCMP_ARCH_{lower}"))
    })
}

/// Whether `arch`'s table has `name`; `None` when we have no table for it. Besides the tables
/// of [`Arch::has_table`], the `syscalls` crate's tables for mips (o32), mips64 (n64),
/// ppc, ppc64, riscv64, s390x and loongarch64 serve here (names only).
pub fn knows(arch: Arch, name: &str) -> Option<bool> {
    if arch.has_table() {
        return Some(arch.number(name).is_some());
    }
    Some(match arch {
        Arch::Mips | Arch::Mipsel => syscalls::mips::Sysno::from_str(name).is_ok(),
        Arch::Mips64 | Arch::Mipsel64 => syscalls::mips64::Sysno::from_str(name).is_ok(),
        Arch::Ppc => syscalls::powerpc::Sysno::from_str(name).is_ok(),
        Arch::Ppc64 | Arch::Ppc64le => syscalls::powerpc64::Sysno::from_str(name).is_ok(),
        Arch::Riscv64 => syscalls::riscv64::Sysno::from_str(name).is_ok(),
        Arch::S390x => syscalls::s390x::Sysno::from_str(name).is_ok(),
        Arch::Loongarch64 => syscalls::loongarch64::Sysno::from_str(name).is_ok(),
        _ => return None,
    })
}

/// Whether any table we have knows `name`.
pub fn known_anywhere(name: &str) -> bool {
    ALL_ARCHES
        .into_iter()
        .any(|arch| knows(arch, name) == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i386_numbers_use_the_i386_table() {
        // 64 is getppid on i386 but semget on x86_64: decoding with the wrong table is the
        // classic mistake.
        assert_eq!(Arch::X86.name(64), Some("getppid"));
        assert_eq!(Arch::X86_64.name(64), Some("semget"));
        assert_eq!(Arch::X86_64.name(110), Some("getppid"));
    }

    #[test]
    fn x32_has_its_own_entries_and_drops_the_ones_it_replaced() {
        assert_eq!(Arch::X32.name(520), Some("execve"));
        assert_eq!(Arch::X32.name(547), Some("pwritev2"));
        assert_eq!(Arch::X32.name(59), None, "x32 execve is 520, not 59");
        assert_eq!(Arch::X32.name(205), None, "set_thread_area is 64-bit only");
        assert_eq!(Arch::X32.number("set_thread_area"), None);
        assert_eq!(Arch::X32.name(0), Some("read"));
        assert_eq!(Arch::X32.number("execve"), Some(520));
        assert_eq!(Arch::X32.number("read"), Some(0));
    }

    #[test]
    fn arm_private_calls_are_named_as_libseccomp_names_them() {
        assert_eq!(Arch::Arm.number("set_tls"), Some(0x0f_0005));
        assert_eq!(Arch::Arm.name(0x0f_0001), Some("breakpoint"));
        assert_eq!(Arch::Arm.name(0x0f_0006), Some("get_tls"));
        assert_eq!(Arch::Arm.name(0x0f_0000), None);
        assert_eq!(Arch::Arm.name(0x0f_0007), None);
        // aarch64 79 under its 64-bit name; no 32-bit-only calls on aarch64.
        assert_eq!(Arch::Aarch64.name(79), Some("newfstatat"));
        assert_eq!(Arch::Aarch64.number("newfstatat"), Some(79));
        assert_eq!(Arch::Aarch64.number("fstatat"), None);
        assert_eq!(Arch::Aarch64.name(403), None);
        assert_eq!(Arch::Aarch64.number("clock_gettime64"), None);
        assert_eq!(Arch::Arm.number("clock_gettime64"), Some(403));
        // EABI numbers, not aarch64's: 281 is socket on arm.
        assert_eq!(Arch::Arm.name(281), Some("socket"));
        assert_eq!(Arch::Aarch64.name(198), Some("socket"));
        let table = Arch::Arm.table();
        assert_eq!(table.last(), Some(&(0x0f_0006, "get_tls")));
    }

    #[test]
    fn recorded_abis_have_rows_in_order() {
        for (i, &arch) in Arch::RECORDED.iter().enumerate() {
            assert_eq!(arch.index(), Some(i as u32));
            assert_eq!(Arch::from_index(i as u32), Some(arch));
        }
        assert_eq!(Arch::NATIVE.index(), Some(profiler_common::ABI_NATIVE));
        assert_eq!(Arch::Mips.index(), None);
    }

    #[test]
    fn names_and_numbers_round_trip() {
        for arch in [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm] {
            let table = arch.table();
            assert!(table.len() > 300, "{arch}: only {} entries", table.len());
            for (nr, name) in table {
                assert_eq!(arch.number(name), Some(nr), "{arch} {name}");
            }
        }
    }

    #[test]
    fn unknown_numbers_have_no_name() {
        assert_eq!(Arch::X86_64.name(1000), None);
        assert_eq!(Arch::X86_64.name(u64::MAX), None);
        assert_eq!(Arch::X86_64.number("no_such_syscall"), None);
    }
}
