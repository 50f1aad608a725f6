//! The risk table `profile report` classifies allowed syscalls by. docs/cli.md prints the same
//! table; a test checks that every name here is there.
//!
//! - **high**: the syscall reaches kernel surface a container has no business touching, or
//!   reaches across process or namespace boundaries (the syscalls Docker's default profile
//!   withholds from a container without extra capabilities, plus a few it allows that exploit
//!   chains keep using: `ptrace`, `process_vm_*`, `userfaultfd`, io_uring).
//! - **medium**: dangerous only in some uses, which argument conditions can rule out: `clone`
//!   without a condition keeping the `CLONE_NEW*` bits clear, `socket` without a condition on the
//!   address family, `ioctl` without one on the request, `prctl` without one on the option; and
//!   a few whose arguments seccomp cannot see (`clone3`, `socketcall`).
//! - **low**: everything else.
//!
//! An entry with a *relief* drops to low when every way the profile lets the call through
//! carries that restriction (Docker's `personality` and `socket` rules do); a call allowed by the
//! default action, or only "unless" some condition, counts as unrestricted.
use serde::Serialize;

use crate::profile::ops::Allowance;
use crate::profile::{ArgCondition, ArgOp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    High,
    Medium,
    Low,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::High => "high",
            Risk::Medium => "medium",
            Risk::Low => "low",
        }
    }
}

/// What makes an entry's syscall harmless enough to count as low.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relief {
    /// A condition on this argument (the family of `socket`, the request of `ioctl`, …).
    Arg(u32),
    /// A `SCMP_CMP_MASKED_EQ` condition (on any argument: s390 passes clone's flags second)
    /// whose mask covers every `CLONE_NEW*` bit and whose value has none of them set (clone's
    /// rule in Docker's default, unshare's and clone's in a `record --args` profile).
    CloneNamespaces,
}

pub struct Entry {
    pub name: &'static str,
    pub risk: Risk,
    pub reason: &'static str,
    pub relief: Option<Relief>,
}

const fn entry(
    name: &'static str,
    risk: Risk,
    reason: &'static str,
    relief: Option<Relief>,
) -> Entry {
    Entry {
        name,
        risk,
        reason,
        relief,
    }
}

use Risk::{High, Medium};

/// The table, high first, then medium; within each by theme. Names on no list are low.
#[rustfmt::skip]
pub const TABLE: &[Entry] = &[
    entry("ptrace", High, "reads and writes other processes' memory and registers", None),
    entry("process_vm_readv", High, "reads another process's memory", None),
    entry("process_vm_writev", High, "writes another process's memory", None),
    entry("bpf", High, "loads eBPF programs and maps into the kernel", None),
    entry("perf_event_open", High, "kernel performance events: large, often exploited surface", None),
    entry("mount", High, "changes the mount table", None),
    entry("umount", High, "changes the mount table", None),
    entry("umount2", High, "changes the mount table", None),
    entry("fsopen", High, "new mount API: changes the mount table", None),
    entry("fsconfig", High, "new mount API: changes the mount table", None),
    entry("fsmount", High, "new mount API: changes the mount table", None),
    entry("fspick", High, "new mount API: changes the mount table", None),
    entry("move_mount", High, "new mount API: changes the mount table", None),
    entry("open_tree", High, "new mount API: clones mount trees", None),
    entry("mount_setattr", High, "changes mount properties", None),
    entry("pivot_root", High, "replaces the root filesystem", None),
    entry("unshare", High, "creates namespaces, opening kernel surface meant for root", Some(Relief::CloneNamespaces)),
    entry("setns", High, "joins other namespaces", None),
    entry("keyctl", High, "kernel keyring, which is not namespaced", None),
    entry("add_key", High, "kernel keyring, which is not namespaced", None),
    entry("request_key", High, "kernel keyring, which is not namespaced", None),
    entry("init_module", High, "loads a kernel module", None),
    entry("finit_module", High, "loads a kernel module", None),
    entry("delete_module", High, "unloads a kernel module", None),
    entry("create_module", High, "kernel module (obsolete)", None),
    entry("kexec_load", High, "replaces the running kernel", None),
    entry("kexec_file_load", High, "replaces the running kernel", None),
    entry("open_by_handle_at", High, "opens files by handle, bypassing paths (container escape)", None),
    entry("userfaultfd", High, "stalls kernel page faults, a staple of kernel exploits", None),
    entry("io_uring_setup", High, "io_uring: large surface; its I/O bypasses seccomp", None),
    entry("io_uring_enter", High, "io_uring: large surface; its I/O bypasses seccomp", None),
    entry("io_uring_register", High, "io_uring: large surface; its I/O bypasses seccomp", None),
    entry("personality", High, "changes the execution domain (can turn off ASLR)", Some(Relief::Arg(0))),
    entry("reboot", High, "reboots or halts the machine", None),
    entry("swapon", High, "changes the machine's swap", None),
    entry("swapoff", High, "changes the machine's swap", None),
    entry("syslog", High, "reads the kernel log, which leaks kernel addresses", None),
    entry("iopl", High, "direct I/O port access", None),
    entry("ioperm", High, "direct I/O port access", None),
    entry("clone", Medium, "may create namespaces (CLONE_NEW* flags not excluded)", Some(Relief::CloneNamespaces)),
    entry("clone3", Medium, "may create namespaces (its flags are in memory seccomp cannot see)", None),
    entry("socket", Medium, "any address family, rarely used ones too (family not restricted)", Some(Relief::Arg(0))),
    entry("socketcall", Medium, "i386 socket multiplexer: seccomp cannot see the address family", None),
    entry("ioctl", Medium, "any device request (request not restricted)", Some(Relief::Arg(1))),
    entry("prctl", Medium, "any process option (option not restricted)", Some(Relief::Arg(0))),
    entry("chroot", Medium, "changes the root directory", None),
    entry("name_to_handle_at", Medium, "file handles, the other half of open_by_handle_at", None),
    entry("kcmp", Medium, "compares kernel objects of other processes", None),
    entry("pidfd_getfd", Medium, "takes file descriptors from other processes", None),
    entry("process_madvise", Medium, "advises on another process's memory", None),
    entry("fanotify_init", Medium, "watches filesystem events beyond the container", None),
    entry("acct", Medium, "switches process accounting on a file", None),
    entry("quotactl", Medium, "changes filesystem quotas", None),
    entry("lookup_dcookie", Medium, "resolves kernel directory entries (profiling)", None),
    entry("settimeofday", Medium, "sets the system clock, which is not namespaced", None),
    entry("stime", Medium, "sets the system clock, which is not namespaced", None),
    entry("clock_settime", Medium, "sets the system clock, which is not namespaced", None),
    entry("clock_adjtime", Medium, "adjusts the system clock, which is not namespaced", None),
    entry("vm86", Medium, "virtual 8086 mode (legacy, rarely audited)", None),
    entry("vm86old", Medium, "virtual 8086 mode (legacy, rarely audited)", None),
    entry("uselib", Medium, "obsolete library loader", None),
    entry("nfsservctl", Medium, "obsolete NFS server control", None),
    entry("_sysctl", Medium, "obsolete sysctl interface", None),
];

/// Every `CLONE_NEW*` flag: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (moby's
/// mask 2114060288), plus NEWTIME (0x80, only for clone3 and unshare, so not required).
const CLONE_NEW_ALL: u64 = 0x7E02_0000;

/// The class, the one-line reason (empty for low), and whether a relief applied.
pub fn classify(name: &str, allowance: &Allowance) -> (Risk, &'static str) {
    let Some(entry) = TABLE.iter().find(|entry| entry.name == name) else {
        return (Risk::Low, "");
    };
    let relieved = entry.relief.is_some_and(|relief| match allowance {
        Allowance::When(ways) => ways
            .iter()
            .all(|conds| conds.iter().any(|c| holds(relief, c))),
        Allowance::Always | Allowance::Unless(_) => false,
    });
    if relieved {
        (Risk::Low, "")
    } else {
        (entry.risk, entry.reason)
    }
}

fn holds(relief: Relief, cond: &ArgCondition) -> bool {
    match relief {
        Relief::Arg(index) => cond.index == index,
        Relief::CloneNamespaces => {
            cond.op == ArgOp::MaskedEqual
                && cond.value & CLONE_NEW_ALL == CLONE_NEW_ALL
                && cond.value_two & CLONE_NEW_ALL == 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::known_anywhere;

    #[test]
    fn report_risk_table_names_exist_and_appear_once() {
        let mut seen = std::collections::BTreeSet::new();
        for entry in TABLE {
            assert!(
                known_anywhere(entry.name),
                "{} is in no syscall table",
                entry.name
            );
            assert!(seen.insert(entry.name), "{} twice", entry.name);
            assert!(
                !entry.reason.is_empty() && entry.reason.len() <= 70,
                "{}",
                entry.name
            );
        }
    }

    #[test]
    fn report_risk_table_is_documented() {
        let doc = include_str!("../../../docs/cli.md");
        for entry in TABLE {
            assert!(
                doc.contains(&format!("`{}`", entry.name)),
                "{} is missing from docs/cli.md's risk table",
                entry.name
            );
        }
    }

    fn cond(index: u32, value: u64, value_two: u64, op: ArgOp) -> ArgCondition {
        ArgCondition {
            index,
            value,
            value_two,
            op,
        }
    }

    #[test]
    fn report_risk_relief_needs_every_way_restricted() {
        let mask = cond(0, CLONE_NEW_ALL, 0, ArgOp::MaskedEqual);
        assert_eq!(
            classify("clone", &Allowance::When(vec![vec![mask]])).0,
            Risk::Low
        );
        assert_eq!(classify("clone", &Allowance::Always).0, Risk::Medium);
        // A mask that leaves CLONE_NEWUSER out does not keep namespaces out.
        let partial = cond(0, CLONE_NEW_ALL & !0x1000_0000, 0, ArgOp::MaskedEqual);
        assert_eq!(
            classify("clone", &Allowance::When(vec![vec![partial]])).0,
            Risk::Medium
        );
        let family = cond(0, 40, 0, ArgOp::NotEqual);
        let other = cond(1, 1, 0, ArgOp::Equal);
        assert_eq!(
            classify("socket", &Allowance::When(vec![vec![family]])).0,
            Risk::Low
        );
        assert_eq!(
            classify("socket", &Allowance::When(vec![vec![family], vec![other]])).0,
            Risk::Medium
        );
        assert_eq!(
            classify("socket", &Allowance::Unless(vec![vec![family]])).0,
            Risk::Medium
        );
        assert_eq!(
            classify("ptrace", &Allowance::When(vec![vec![other]])).0,
            Risk::High
        );
        assert_eq!(classify("read", &Allowance::Always), (Risk::Low, ""));
    }
}
