//! A resolved profile as the rules of each syscall number of each architecture the filter
//! covers: names resolved per architecture (unknown ones skipped, as libseccomp does), x32
//! numbers with their bit, i386's socket and IPC calls also through their multiplexers, and
//! action values as runc computes them.
use std::collections::{BTreeMap, BTreeSet};

use super::{
    error::CompileError, RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_KILL_THREAD, RET_LOG,
    RET_TRACE, RET_TRAP,
};
use crate::{
    profile::{Action, ArgCondition, ArgOp, Profile, ERRNO_RANGE, TRACE_DATA_RANGE},
    syscalls::{Arch, X32_SYSCALL_BIT},
};

/// `AUDIT_ARCH_*` values seccomp reports in `seccomp_data.arch`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
/// EPERM: what runc returns for ERRNO and TRACE without an explicit errnoRet.
const EPERM: u32 = 1;

/// How the rules of a profile are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// By their meaning: every rule counts, all the conditions of a rule must hold.
    Meaning,
    /// As runc hands them to libseccomp: rules whose action is the default's are dropped, and
    /// a rule with two conditions on one argument becomes one rule per condition (ORed).
    Runc,
}

/// One rule of one syscall on one ABI: all `conditions` must hold (runc's reading splits those
/// on one argument into separate rules first); `action` is the `SECCOMP_RET_*` value. For
/// MASKED_EQ, `value` is the mask and `value_two` the datum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub conditions: Vec<ArgCondition>,
    pub action: u32,
}

/// One rule as it applies to one syscall number, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced<'a> {
    pub rule: Rule,
    /// Index of the profile rule.
    pub index: usize,
    pub name: &'a str,
}

/// The rules of every syscall number, per architecture.
pub struct Expanded<'a> {
    pub default: u32,
    /// The native architecture first, as libseccomp always has it.
    pub arches: Vec<Arch>,
    pub rules: BTreeMap<Arch, BTreeMap<u32, Vec<Sourced<'a>>>>,
}

/// The action value of `action` with `errno_ret`, as runc's getAction computes it.
pub fn action_value(action: Action, errno_ret: Option<u32>) -> Result<u32, CompileError> {
    let errno = errno_ret.unwrap_or(EPERM);
    Ok(match action {
        Action::Allow => RET_ALLOW,
        Action::Errno if !ERRNO_RANGE.contains(&errno) => return Err(CompileError::Errno(errno)),
        Action::Trace if !TRACE_DATA_RANGE.contains(&errno) => {
            return Err(CompileError::Errno(errno))
        }
        Action::Errno => RET_ERRNO | errno,
        Action::KillProcess => RET_KILL_PROCESS,
        Action::KillThread | Action::Kill => RET_KILL_THREAD,
        Action::Trap => RET_TRAP,
        Action::Log => RET_LOG,
        Action::Trace => RET_TRACE | errno,
        Action::Notify => return Err(CompileError::Notify("SCMP_ACT_NOTIFY")),
    })
}

pub fn audit_arch(arch: Arch) -> Result<u32, CompileError> {
    match arch {
        Arch::X86_64 | Arch::X32 => Ok(AUDIT_ARCH_X86_64),
        Arch::X86 => Ok(AUDIT_ARCH_I386),
        Arch::Aarch64 => Ok(AUDIT_ARCH_AARCH64),
        Arch::Arm => Ok(AUDIT_ARCH_ARM),
        other => Err(CompileError::UnsupportedArch(other.scmp_name())),
    }
}

/// The rules of `profile` for a kernel whose native architecture is `native`; of the names in
/// `only` alone, when given (every rule is still checked).
pub fn expand<'a>(
    profile: &'a Profile,
    native: Arch,
    reading: Reading,
    only: Option<&BTreeSet<&str>>,
) -> Result<Expanded<'a>, CompileError> {
    if !profile.arch_map.is_empty()
        || profile
            .syscalls
            .iter()
            .any(|r| !r.includes.is_empty() || !r.excludes.is_empty())
    {
        return Err(CompileError::Unresolved);
    }
    let default = action_value(profile.default_action, profile.default_errno_ret)?;
    let mut arches = vec![native];
    for &arch in &profile.architectures {
        if !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    let mut rules: BTreeMap<Arch, BTreeMap<u32, Vec<Sourced>>> = BTreeMap::new();
    for &arch in &arches {
        audit_arch(arch)?;
        rules.insert(arch, BTreeMap::new());
    }
    for (index, rule) in profile.syscalls.iter().enumerate() {
        let action = action_value(rule.action, rule.errno_ret)?;
        for (arg, c) in rule.args.iter().enumerate() {
            if c.index > 5 {
                return Err(CompileError::ArgIndex {
                    rule: index,
                    arg,
                    index: c.index,
                });
            }
        }
        if reading == Reading::Runc && action == default {
            continue;
        }
        let shares_index = rule
            .args
            .iter()
            .enumerate()
            .any(|(i, a)| rule.args[..i].iter().any(|b| b.index == a.index));
        let chains: Vec<Vec<ArgCondition>> = if reading == Reading::Runc && shares_index {
            rule.args.iter().map(|c| vec![*c]).collect()
        } else {
            vec![rule.args.clone()]
        };
        for name in &rule.names {
            if only.is_some_and(|only| !only.contains(name.as_str())) {
                continue;
            }
            for (&arch, by_nr) in rules.iter_mut() {
                let mut add = |nr: u32, conditions: Vec<ArgCondition>| {
                    by_nr.entry(nr).or_default().push(Sourced {
                        rule: Rule { conditions, action },
                        index,
                        name: name.as_str(),
                    });
                };
                for conditions in &chains {
                    // On x86 the socket and IPC calls also go through their multiplexers, which
                    // libseccomp filters with the call number in arg0 (replacing any condition
                    // on arg0); the multiplexed rule is added first.
                    if arch == Arch::X86 {
                        if let Some((multiplexer, call)) = multiplexed(name) {
                            let mut muxed: Vec<ArgCondition> = conditions
                                .iter()
                                .filter(|c| c.index != 0)
                                .copied()
                                .collect();
                            muxed.push(ArgCondition {
                                index: 0,
                                value: call,
                                value_two: 0,
                                op: ArgOp::Equal,
                            });
                            add(multiplexer, muxed);
                        }
                    }
                    let Some(nr) = arch.number(name) else {
                        continue;
                    };
                    let nr = if arch == Arch::X32 {
                        nr as u32 | X32_SYSCALL_BIT
                    } else {
                        nr as u32
                    };
                    add(nr, conditions.clone());
                }
            }
        }
    }
    Ok(Expanded {
        default,
        arches,
        rules,
    })
}

/// i386's `socketcall` and `ipc` multiplexers, and the call numbers (`SYS_*` of linux/net.h,
/// and of ipc/syscall.c) of the calls they carry.
const SOCKETCALL: u32 = 102;
const IPC: u32 = 117;
const SOCKET_CALLS: [&str; 20] = [
    "socket",
    "bind",
    "connect",
    "listen",
    "accept",
    "getsockname",
    "getpeername",
    "socketpair",
    "send",
    "recv",
    "sendto",
    "recvfrom",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "sendmsg",
    "recvmsg",
    "accept4",
    "recvmmsg",
    "sendmmsg",
];
const IPC_CALLS: [(&str, u64); 12] = [
    ("semop", 1),
    ("semget", 2),
    ("semctl", 3),
    ("semtimedop", 4),
    ("msgsnd", 11),
    ("msgrcv", 12),
    ("msgget", 13),
    ("msgctl", 14),
    ("shmat", 21),
    ("shmdt", 22),
    ("shmget", 23),
    ("shmctl", 24),
];

/// The multiplexer and call number of i386's socket and IPC calls.
pub fn multiplexed(name: &str) -> Option<(u32, u64)> {
    if let Some(i) = SOCKET_CALLS.iter().position(|call| *call == name) {
        return Some((SOCKETCALL, i as u64 + 1));
    }
    IPC_CALLS
        .iter()
        .find(|(call, _)| *call == name)
        .map(|&(_, n)| (IPC, n))
}
