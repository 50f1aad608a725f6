//! Types shared by the eBPF programs and userspace: map layouts and the values userspace
//! patches into the object before loading it.
#![no_std]

/// Syscall numbers below this are counted in a dense per-CPU table; larger ones (bogus numbers
/// a program passes to `syscall(2)`) go to [`OddSyscallKey`] entries so none is lost.
pub const SYSCALL_TABLE_SIZE: usize = 1024;

#[cfg(any(target_arch = "aarch64", bpf_target_arch = "aarch64"))]
pub use aarch64 as machine;
/// The architecture-specific layouts, for the machine the programs run on: userspace's own
/// target, or, in the eBPF build, the `bpf_target_arch` that aya-build sets from the target of
/// the binary that embeds the object. Both tables are always compiled, so userspace tests can
/// check either.
#[cfg(any(target_arch = "x86_64", bpf_target_arch = "x86_64"))]
pub use x86_64 as machine;
#[cfg(not(any(
    target_arch = "x86_64",
    bpf_target_arch = "x86_64",
    target_arch = "aarch64",
    bpf_target_arch = "aarch64"
)))]
compile_error!("profile supports x86_64 and aarch64 (arm64) kernels");

pub use machine::{ARG_KINDS, INSTALL_CALLS};

/// An x86_64 kernel: native x86_64 calls, i386 calls (`int $0x80`, 32-bit tasks) and x32.
pub mod x86_64 {
    use super::{
        kind, ArgKind, ALL_BITS, CLONE_NEW_MASK, PROT_WX, SOCK_TYPE_MASK, UNSHARE_NEW_MASK,
    };

    /// Bit the x86_64 kernel sets in the number of x32 syscalls (`__X32_SYSCALL_BIT`).
    pub const X32_SYSCALL_BIT: u64 = 0x4000_0000;

    /// `TS_COMPAT` in x86's `thread_info.status`: set while the task runs a 32-bit syscall,
    /// which is the only reliable sign of `int $0x80` from 64-bit code (its `cs` stays the
    /// 64-bit one).
    pub const TS_COMPAT: u32 = 0x0002;

    /// `__USER_CS`, the code segment of 64-bit user mode (`GDT_ENTRY_DEFAULT_USER_CS * 8 + 3`).
    pub const USER_CS: u64 = 0x33;

    /// Byte offsets in x86_64's `struct pt_regs`, the registers a syscall saved (the ptrace
    /// layout, fixed by the ABI; userspace checks them against the running kernel's BTF before
    /// loading).
    pub mod pt_regs {
        pub const BP: usize = 32;
        pub const BX: usize = 40;
        pub const R11: usize = 48;
        pub const R10: usize = 56;
        pub const R9: usize = 64;
        pub const R8: usize = 72;
        pub const CX: usize = 88;
        pub const DX: usize = 96;
        pub const SI: usize = 104;
        pub const DI: usize = 112;
        /// The syscall's number as it entered (`syscall_get_nr`): what `sys_exit` reports.
        pub const ORIG_AX: usize = 120;
        pub const IP: usize = 128;
        /// A union with FRED's wider `csx` on 6.9+ kernels: only the low 16 bits are the
        /// selector.
        pub const CS: usize = 136;
        pub const FLAGS: usize = 144;
        /// Where the syscall number is at `sys_exit`, and how wide it is.
        pub const SYSCALL_NR: (usize, u32) = (ORIG_AX, 8);
        /// Syscall arguments: rdi, rsi, rdx, r10, r8, r9 for x86_64 (and x32).
        pub const NATIVE_ARGS: [usize; 6] = [DI, SI, DX, R10, R8, R9];
        /// ebx, ecx, edx, esi, edi, ebp for i386.
        pub const COMPAT_ARGS: [usize; 6] = [BX, CX, DX, SI, DI, BP];
        /// Every field the programs read, by its name in the kernel's BTF.
        pub const READ: [(&str, usize); 14] = [
            ("bp", BP),
            ("bx", BX),
            ("r11", R11),
            ("r10", R10),
            ("r9", R9),
            ("r8", R8),
            ("cx", CX),
            ("dx", DX),
            ("si", SI),
            ("di", DI),
            ("orig_ax", ORIG_AX),
            ("ip", IP),
            ("cs", CS),
            ("flags", FLAGS),
        ];
    }

    /// `seccomp` and `prctl` (which install filters), native (also x32's numbers) and i386.
    pub const INSTALL_CALLS: [[u64; 2]; 2] = [[317, 157], [354, 172]];

    /// The learned arguments on x86_64 (see docs/profiles.md). i386 socket calls through
    /// `socketcall` and the old `mmap` (90) pass their arguments in user memory and are not
    /// inspected.
    pub const ARG_KINDS: [ArgKind; 14] = [
        // socket(family, type): (family, type & SOCK_TYPE_MASK) pairs.
        ArgKind {
            native: 41,
            compat: 359,
            arg: 0,
            mask: 0xffff_ffff,
            arg2: 1,
            mask2: SOCK_TYPE_MASK,
        },
        kind(53, 360, 0, ALL_BITS),          // socketpair family
        kind(56, 120, 0, CLONE_NEW_MASK),    // clone flags
        kind(435, 435, 0, CLONE_NEW_MASK),   // clone3 (flags read from user memory)
        kind(272, 310, 0, UNSHARE_NEW_MASK), // unshare flags
        kind(308, 346, 1, ALL_BITS),         // setns nstype
        kind(16, 54, 1, ALL_BITS),           // ioctl request
        kind(157, 172, 0, ALL_BITS),         // prctl option
        kind(135, 136, 0, ALL_BITS),         // personality persona
        kind(72, 55, 1, ALL_BITS),           // fcntl cmd
        kind(0, 221, 1, ALL_BITS),           // fcntl64 cmd (i386)
        kind(9, 0, 2, PROT_WX),              // mmap prot
        kind(0, 192, 2, PROT_WX),            // mmap2 prot (i386)
        kind(10, 125, 2, PROT_WX),           // mprotect prot
    ];
}

/// An arm64 kernel: native aarch64 calls and, where it runs 32-bit tasks (`CONFIG_COMPAT`),
/// AArch32 ones (`SCMP_ARCH_ARM`, EABI numbers).
pub mod aarch64 {
    use super::{
        kind, ArgKind, ALL_BITS, CLONE_NEW_MASK, PROT_WX, SOCK_TYPE_MASK, UNSHARE_NEW_MASK,
    };

    /// `PSR_MODE32_BIT` of the saved `pstate` (SPSR_EL1): the task was in AArch32 state when it
    /// trapped, which the architecture defines, so no kernel version can move it.
    pub const PSR_MODE32_BIT: u64 = 0x10;

    /// Byte offsets in arm64's `struct pt_regs`: `regs[31]`, `sp`, `pc`, `pstate`, then
    /// `orig_x0`.
    pub mod pt_regs {
        pub const X1: usize = 8;
        pub const X2: usize = 16;
        pub const X3: usize = 24;
        pub const X4: usize = 32;
        pub const X5: usize = 40;
        pub const PSTATE: usize = 264;
        /// The first argument as the call passed it (`regs[0]` is the return value's slot).
        pub const ORIG_X0: usize = 272;
        /// The syscall's number (an `s32`): what `sys_exit` reports.
        pub const SYSCALLNO: usize = 280;
        /// Where the syscall number is at `sys_exit`, and how wide it is.
        pub const SYSCALL_NR: (usize, u32) = (SYSCALLNO, 4);
        /// Syscall arguments, for AArch64 (x0–x5) and AArch32 (r0–r5) alike.
        pub const NATIVE_ARGS: [usize; 6] = [ORIG_X0, X1, X2, X3, X4, X5];
        pub const COMPAT_ARGS: [usize; 6] = NATIVE_ARGS;
        /// Every field the programs read, by its name in the kernel's BTF (`regs[1..5]` are
        /// an array, checked through `regs`).
        pub const READ: [(&str, usize); 4] = [
            ("regs", 0),
            ("pstate", PSTATE),
            ("orig_x0", ORIG_X0),
            ("syscallno", SYSCALLNO),
        ];
    }

    /// `seccomp` and `prctl` (which install filters), aarch64 and arm (EABI).
    pub const INSTALL_CALLS: [[u64; 2]; 2] = [[277, 167], [383, 172]];

    /// The learned arguments on arm64: the same kinds in the same order as on x86_64, with the
    /// aarch64 and arm (EABI) numbers. EABI has no old `mmap`.
    pub const ARG_KINDS: [ArgKind; 14] = [
        ArgKind {
            native: 198,
            compat: 281,
            arg: 0,
            mask: 0xffff_ffff,
            arg2: 1,
            mask2: SOCK_TYPE_MASK,
        },
        kind(199, 288, 0, ALL_BITS),        // socketpair family
        kind(220, 120, 0, CLONE_NEW_MASK),  // clone flags
        kind(435, 435, 0, CLONE_NEW_MASK),  // clone3 (flags read from user memory)
        kind(97, 337, 0, UNSHARE_NEW_MASK), // unshare flags
        kind(268, 375, 1, ALL_BITS),        // setns nstype
        kind(29, 54, 1, ALL_BITS),          // ioctl request
        kind(167, 172, 0, ALL_BITS),        // prctl option
        kind(92, 136, 0, ALL_BITS),         // personality persona
        kind(25, 55, 1, ALL_BITS),          // fcntl cmd
        kind(0, 221, 1, ALL_BITS),          // fcntl64 cmd (arm)
        kind(222, 0, 2, PROT_WX),           // mmap prot
        kind(0, 192, 2, PROT_WX),           // mmap2 prot (arm)
        kind(226, 125, 2, PROT_WX),         // mprotect prot
    ];
}

/// The ABIs a syscall can arrive through; the value is its row in the `COUNTS` map. Native is
/// x86_64 or aarch64, compat i386 or arm; x32 exists on x86_64 only.
pub const ABI_NATIVE: u32 = 0;
pub const ABI_COMPAT: u32 = 1;
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

/// One CPU's cached decision for the last task it saw enter a syscall: the task's `pt_regs`
/// address, the `GENERATION` it was decided in, and its slot or [`UNWATCHED`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LastTask {
    pub regs: u64,
    pub generation: u64,
    pub slot: u32,
    pub _pad: u32,
}

pub const UNWATCHED: u32 = u32::MAX;

/// Low byte of the `GENERATION` values userspace stores (the programs store a CPU number there,
/// below 128), so no program's value can equal one of userspace's.
pub const GENERATION_USER: u64 = 0xff;

/// Offsets inside kernel structures, read from the running kernel's BTF by userspace and patched
/// into the `TASK_OFFSETS` global before load, because field layouts change between kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskOffsets {
    /// `task_struct.tgid`
    pub tgid: u32,
    /// `task_struct.thread_info.status` (x86_64; 0 on arm64, which has no such field)
    pub thread_status: u32,
    /// `task_struct.signal`
    pub signal: u32,
    /// `signal_struct.live`: the number of live threads; 0 once the whole group is exiting.
    pub signal_live: u32,
    /// `task_struct.seccomp.mode` (an `int`): [`SECCOMP_MODE_FILTER`] once a filter is installed.
    pub seccomp_mode: u32,
    /// The way to a task's cgroup v2 ancestors for kernels whose tracing programs lack
    /// `bpf_get_current_ancestor_cgroup_id` (before 5.14), as that helper goes:
    /// `task_struct.cgroups` (a `css_set *`), `css_set.dfl_cgrp` (a `cgroup *`), `cgroup.level`
    /// and its ancestors array, `cgroup.ancestors` (`cgroup *`, 5.19 on) or `ancestor_ids`
    /// (`u64`, before).
    pub task_cgroups: u32,
    pub css_set_dfl_cgrp: u32,
    pub cgroup_level: u32,
    pub cgroup_ancestors: u32,
    /// Non-zero: the array holds `cgroup *`, whose id is `cgroup.kn->id`.
    pub ancestor_pointers: u32,
    pub cgroup_kn: u32,
    pub kernfs_node_id: u32,
}

/// `SECCOMP_MODE_FILTER` (include/uapi/linux/seccomp.h).
pub const SECCOMP_MODE_FILTER: i32 = 2;

/// What the programs watch besides the `WATCHED` process trees. Patched into the read-only,
/// frozen `CONFIG` global before load, so the verifier knows every field as a constant and
/// removes the branches a recording does not use: with [`CGROUP_NONE`] and `after_seccomp == 0`
/// the hot path is exactly the process-tree one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// [`CGROUP_NONE`], [`CGROUP_TARGETS`] or [`CGROUP_ROOT`].
    pub cgroup_mode: u32,
    /// Depth below the cgroup v2 root of the `CGROUP_TARGETS` keys, or of `root_id`.
    pub cgroup_level: u32,
    /// [`CGROUP_ROOT`]: the cgroup id (v2 directory inode) whose descendants are counted.
    pub root_id: u64,
    /// Non-zero: count only calls of tasks whose seccomp mode is already FILTER.
    pub after_seccomp: u32,
    /// Non-zero: the programs send their aya-log lines (only read at `-vv`). Off, the verifier
    /// drops the logging code, which is most of what it has to check in the fork hook.
    pub log: u32,
    /// Non-zero (`record --args`): also learn the deciding argument of the [`ARG_KINDS`]
    /// syscalls into `ARG_VALUES`.
    pub args: u32,
    pub _pad: u32,
}

/// No cgroup targets.
pub const CGROUP_NONE: u32 = 0;
/// `CGROUP_TARGETS` maps the ancestor at `cgroup_level` of the calling task's cgroup to a slot.
pub const CGROUP_TARGETS: u32 = 1;
/// Every task below `root_id` is counted in `CGROUP_COUNTS` under its own cgroup's id.
pub const CGROUP_ROOT: u32 = 2;

/// Cgroup targets one tracer tells apart (each has a slot in `COUNTS`).
pub const MAX_CGROUP_TARGETS: u32 = MAX_SLOTS;
/// (cgroup, ABI, syscall) entries counted below a `CGROUP_ROOT`: ~100 names per container.
pub const MAX_CGROUP_COUNTS: u32 = 65_536;

/// Key of the `CGROUP_COUNTS` per-CPU hash: one syscall of one ABI in one cgroup.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CgroupSyscallKey {
    /// `bpf_get_current_cgroup_id()`: the inode of the task's cgroup v2 directory.
    pub cgroup: u64,
    pub nr: u64,
    pub abi: u32,
    pub _pad: u32,
}

/// Indices into the `EVENTS` per-CPU array: things userspace must report rather than lose.
pub const EVENT_WATCH_FULL: u32 = 0;
pub const EVENT_ODD_FULL: u32 = 1;
pub const EVENT_READ_FAILED: u32 = 2;
pub const EVENT_CGROUP_FULL: u32 = 3;
/// An argument value or set could not be stored (`ARG_VALUES`/`ARG_SETS` full, or clone3's
/// flags unreadable): its set is marked overflowed, so the syscall stays unconditional.
pub const EVENT_ARGS_LOST: u32 = 4;
pub const EVENT_COUNT: u32 = 5;

/// One argument `record --args` learns: the syscall's numbers in the native and the compat ABI
/// (0: not inspected on that ABI; no listed syscall is number 0 on either), which argument, and
/// the bits of it that are kept. The index of an entry in [`ARG_KINDS`] is its `kind` in the
/// maps, the same on every architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgKind {
    pub native: u64,
    pub compat: u64,
    /// Argument index (0-based) of the value.
    pub arg: u32,
    /// Kept bits of the value: the whole register, or the bits that decide (the socket type
    /// without SOCK_NONBLOCK/SOCK_CLOEXEC, namespace flags, PROT_WRITE|PROT_EXEC).
    pub mask: u64,
    /// [`ARG_SOCKET`] only: a second argument and mask, stored in the value's low 32 bits
    /// (the first one, an `int`, in the high 32) so that (family, type) pairs are learned.
    pub arg2: u32,
    pub mask2: u64,
}

const fn kind(native: u64, compat: u64, arg: u32, mask: u64) -> ArgKind {
    ArgKind {
        native,
        compat,
        arg,
        mask,
        arg2: 0,
        mask2: 0,
    }
}

pub const ALL_BITS: u64 = u64::MAX;
/// `SOCK_TYPE_MASK`: the type without SOCK_NONBLOCK and SOCK_CLOEXEC.
pub const SOCK_TYPE_MASK: u64 = 0xf;
/// Every `CLONE_NEW*` flag clone can take (moby's mask 2114060288). CLONE_NEWTIME (0x80) is
/// CSIGNAL's bit to clone, so it is not part of it.
pub const CLONE_NEW_MASK: u64 = 0x7E02_0000;
/// [`CLONE_NEW_MASK`] plus CLONE_NEWTIME, for unshare.
pub const UNSHARE_NEW_MASK: u64 = 0x7E02_0080;
/// PROT_WRITE | PROT_EXEC.
pub const PROT_WX: u64 = 0x6;

pub const ARG_SOCKET: u32 = 0;
pub const ARG_CLONE: u32 = 2;
/// clone3's flags are learned by reading the first field of its `struct clone_args`, and are
/// stored as clone's ([`ARG_CLONE`]): clone3 itself is always refused with ENOSYS under `--args`,
/// so glibc falls back to clone, whose flags seccomp can see.
pub const ARG_CLONE3: u32 = 3;

/// Distinct values kept per (target, kind); past it the syscall is allowed unconditionally.
pub const MAX_ARG_VALUES: u32 = 16;
/// (target, kind, value) entries one tracer keeps: 64 cgroups with every kind full.
pub const MAX_ARG_ENTRIES: u32 = 16_384;
/// (target, kind) sets one tracer keeps.
pub const MAX_ARG_SETS: u32 = 4096;

/// Key of `ARG_VALUES`: one learned value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgValueKey {
    /// The slot, or with `CGROUP_ROOT` the cgroup id.
    pub target: u64,
    pub kind: u32,
    pub _pad: u32,
    pub value: u64,
}

/// Key of `ARG_SETS`: the values of one kind for one target.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgSetKey {
    pub target: u64,
    pub kind: u32,
    pub _pad: u32,
}

/// How many distinct values a set holds, and whether one was not kept.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArgSet {
    pub distinct: u32,
    /// Non-zero: more than [`MAX_ARG_VALUES`] values, or one could not be stored.
    pub overflow: u32,
}

#[cfg(feature = "user")]
mod user {
    use super::*;
    unsafe impl aya::Pod for SyscallCounts {}
    unsafe impl aya::Pod for OddSyscallKey {}
    unsafe impl aya::Pod for TaskOffsets {}
    unsafe impl aya::Pod for Config {}
    unsafe impl aya::Pod for CgroupSyscallKey {}
    unsafe impl aya::Pod for ArgValueKey {}
    unsafe impl aya::Pod for ArgSetKey {}
    unsafe impl aya::Pod for ArgSet {}
}

/// Layout of the daemon's pinned programs and maps (`profile daemon`). Pins live under
/// `<pin dir>/v<version>`; a daemon finding another version there replaces that set. Bump it
/// whenever [`SeenSyscalls`], [`DaemonInfo`], [`Denial`], a daemon map or a daemon program
/// changes.
pub const DAEMON_LAYOUT_VERSION: u32 = 4;

/// 64-bit words of one cgroup's bitmap: one bit per (ABI, syscall number below
/// [`SYSCALL_TABLE_SIZE`]), 384 bytes, independent of the number of CPUs.
pub const SEEN_WORDS: usize = ABI_COUNT as usize * SYSCALL_TABLE_SIZE / 64;

/// Value of the daemon's `DAEMON_SEEN` hash (key: cgroup id): bit `nr % 64` of word
/// `abi * SYSCALL_TABLE_SIZE / 64 + nr / 64` is set once the cgroup made syscall `nr` of `abi`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SeenSyscalls {
    pub bits: [u64; SEEN_WORDS],
}

/// Bytes of one cgroup's entry in the daemon's `DAEMON_SEEN_BYTES` hash: one per (ABI, syscall
/// number below [`SYSCALL_TABLE_SIZE`]).
pub const SEEN_BYTES: usize = ABI_COUNT as usize * SYSCALL_TABLE_SIZE;

/// Value of `DAEMON_SEEN_BYTES`, the daemon's table on kernels without atomic OR: byte
/// `abi * SYSCALL_TABLE_SIZE + nr` is 1 once the cgroup made syscall `nr` of `abi`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SeenBytes {
    pub flags: [u8; SEEN_BYTES],
}

/// What a pinned daemon set was loaded for, kept in its pinned `DAEMON_INFO` map so that a
/// later daemon can tell whether it may adopt the set or must replace it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaemonInfo {
    /// [`DAEMON_LAYOUT_VERSION`] of the daemon that loaded the set.
    pub layout: u32,
    /// The root's depth below the v2 root (frozen into the program's `CONFIG`).
    pub root_level: u32,
    /// The root cgroup's id (frozen into the program's `CONFIG`).
    pub root_id: u64,
    pub after_seccomp: u32,
    /// `DAEMON_SEEN` entries.
    pub max_cgroups: u32,
    /// `DAEMON_ODD` entries.
    pub max_odd: u32,
    /// [`DAEMON_VARIANT_CURRENT`] or [`DAEMON_VARIANT_510`]: which program and seen-table.
    pub variant: u32,
    /// `DAEMON_DENIED` entries.
    pub max_denials: u32,
    pub _pad: u32,
}

/// `sys_enter_daemon` with `DAEMON_SEEN` (bitmaps set with atomic OR).
pub const DAEMON_VARIANT_CURRENT: u32 = 0;
/// `sys_enter_daemon_510` with `DAEMON_SEEN_BYTES`.
pub const DAEMON_VARIANT_510: u32 = 1;

/// Indices into the daemon's `DAEMON_EVENTS` per-CPU array: what could not be kept, and marks
/// that tell the daemon what there is to read, so that it reads nothing while nothing changes.
/// A cgroup's first call found `DAEMON_SEEN` full: the cgroup is not counted.
pub const DAEMON_EVENT_SEEN_FULL: u32 = 0;
/// An out-of-table number found `DAEMON_ODD` full.
pub const DAEMON_EVENT_ODD_FULL: u32 = 1;
/// A call denied in a cgroup found `DAEMON_DENIED` full (its count is the calls not kept).
pub const DAEMON_EVENT_DENIED_FULL: u32 = 2;
/// A cgroup's first call of a syscall (which is also a new cgroup's first call) or a new
/// out-of-table number: `DAEMON_SEEN` or `DAEMON_ODD` changed.
pub const DAEMON_EVENT_NEW: u32 = 3;
/// A denied call: `DAEMON_DENIED` changed.
pub const DAEMON_EVENT_DENIED: u32 = 4;
/// A cgroup was removed or renamed, anywhere: names and removals need a walk of the tree.
pub const DAEMON_EVENT_TREE: u32 = 5;
pub const DAEMON_EVENT_COUNT: u32 = 6;

/// Value of the daemon's `DAEMON_DENIED` hash (key: [`CgroupSyscallKey`]): calls of a syscall
/// that left the kernel (`sys_exit`) without having entered it (`sys_enter`) in a cgroup that
/// never made it, by tasks under a seccomp filter: what the filter denied.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Denial {
    /// Added to atomically: exact whatever the number of CPUs.
    pub count: u64,
    /// `bpf_ktime_get_boot_ns()` of the first and the last one (CLOCK_BOOTTIME).
    pub first_ns: u64,
    pub last_ns: u64,
    /// The last one's return value: minus the errno the filter chose.
    pub ret: i64,
    /// The last one's process (tgid) and command name.
    pub tgid: u32,
    pub _pad: u32,
    pub comm: [u8; 16],
}

#[cfg(feature = "user")]
mod daemon_user {
    use super::*;
    unsafe impl aya::Pod for SeenSyscalls {}
    unsafe impl aya::Pod for SeenBytes {}
    unsafe impl aya::Pod for DaemonInfo {}
    unsafe impl aya::Pod for Denial {}
}
