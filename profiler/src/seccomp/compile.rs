//! Profile → classic BPF. Pure: no kernel calls.
//!
//! The decisions follow libseccomp 2.5 as runc drives it (runc is how profiles reach the
//! kernel): the native architecture is always filtered; rules whose action equals the default
//! are dropped; a rule with two conditions on one argument becomes one rule per condition;
//! unknown names are skipped per architecture; a call from an architecture that is not in the
//! filter gets KILL_THREAD. The layout is our own: per architecture, syscall numbers with equal
//! decisions are merged into ranges and found by a balanced search, so large profiles stay far
//! below the kernel's 4096-instruction limit; arguments are loaded only on the paths of
//! syscalls whose decision depends on them, so the kernel's action cache covers the rest. The
//! argument checks themselves are libseccomp's blocks ([`tree::Code`]), reloads included.
use std::collections::BTreeMap;

use super::{
    bpf::{Assembler, SockFilter, Target, BPF_JEQ, BPF_JGE, MAX_INSNS},
    tree::{self, Code, Entry, Rule, Syscall, TreeError},
    RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_KILL_THREAD, RET_LOG, RET_TRACE, RET_TRAP,
};
use crate::{
    profile::{Action, ArgCondition, ArgOp, Profile},
    syscalls::Arch,
};

/// `AUDIT_ARCH_*` values seccomp reports in `seccomp_data.arch`.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// EPERM: what runc returns for ERRNO and TRACE without an explicit errnoRet.
const EPERM: u32 = 1;
/// libseccomp accepts ERRNO data below this.
const MAX_ERRNO: u32 = 4095;
/// libseccomp's default action for a call from an architecture the filter does not cover.
const BAD_ARCH: u32 = RET_KILL_THREAD;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompileError {
    #[error("cannot compile for {0}: only x86_64, x86, x32, aarch64 and arm are supported")]
    UnsupportedArch(String),
    #[error("{0} cannot be compiled: it needs a user-space listener (listenerPath), which `profile run` does not provide")]
    Notify(&'static str),
    #[error("the profile still has Docker conditions (archMap, includes or excludes); resolve it for a target first")]
    Unresolved,
    #[error("syscalls[{rule}].args[{arg}]: argument index {index} is out of range (0–5)")]
    ArgIndex { rule: usize, arg: usize, index: u32 },
    #[error("errno {0} is out of range: libseccomp accepts 0–4094")]
    Errno(u32),
    #[error("the filter needs {0} instructions, more than the kernel's limit of 4096")]
    TooLong(usize),
    #[error("syscalls[{rule}]: {name} on {arch}: {source}")]
    Rule {
        rule: usize,
        name: String,
        arch: &'static str,
        source: TreeError,
    },
}

/// The action value of `action` with `errno_ret`, as runc's getAction computes it.
pub fn action_value(action: Action, errno_ret: Option<u32>) -> Result<u32, CompileError> {
    let data = errno_ret.unwrap_or(EPERM) & 0xffff;
    Ok(match action {
        Action::Allow => RET_ALLOW,
        Action::Errno => {
            // libseccomp refuses errno values from MAX_ERRNO (4095) up.
            if data >= MAX_ERRNO {
                return Err(CompileError::Errno(errno_ret.unwrap_or(EPERM)));
            }
            RET_ERRNO | data
        }
        Action::KillProcess => RET_KILL_PROCESS,
        Action::KillThread | Action::Kill => RET_KILL_THREAD,
        Action::Trap => RET_TRAP,
        Action::Log => RET_LOG,
        Action::Trace => RET_TRACE | data,
        Action::Notify => return Err(CompileError::Notify("SCMP_ACT_NOTIFY")),
    })
}

fn audit_arch(arch: Arch) -> Result<u32, CompileError> {
    match arch {
        Arch::X86_64 | Arch::X32 => Ok(AUDIT_ARCH_X86_64),
        Arch::X86 => Ok(AUDIT_ARCH_I386),
        Arch::Aarch64 => Ok(AUDIT_ARCH_AARCH64),
        Arch::Arm => Ok(AUDIT_ARCH_ARM),
        other => Err(CompileError::UnsupportedArch(other.scmp_name())),
    }
}

/// What the filter does with one syscall number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Return(u32),
    /// Depends on the arguments: the code of libseccomp's argument tree for this syscall.
    Tree(Entry),
}

/// A rule as libseccomp receives it for one syscall, with the index of the profile rule and the
/// name it came from (for error messages).
type Sourced<'a> = (Rule, usize, &'a str);

/// Compiles `profile` for a kernel whose native architecture is `native`.
pub fn compile(profile: &Profile, native: Arch) -> Result<Vec<SockFilter>, CompileError> {
    if !profile.arch_map.is_empty()
        || profile
            .syscalls
            .iter()
            .any(|r| !r.includes.is_empty() || !r.excludes.is_empty())
    {
        return Err(CompileError::Unresolved);
    }
    let default = action_value(profile.default_action, profile.default_errno_ret)?;

    // The native architecture first, as libseccomp always has it.
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
        if action == default {
            continue;
        }
        for (arg, c) in rule.args.iter().enumerate() {
            if c.index > 5 {
                return Err(CompileError::ArgIndex {
                    rule: index,
                    arg,
                    index: c.index,
                });
            }
        }
        // runc ORs conditions that share an argument index instead of ANDing them.
        let shares_index = rule
            .args
            .iter()
            .enumerate()
            .any(|(i, a)| rule.args[..i].iter().any(|b| b.index == a.index));
        let chains: Vec<Vec<ArgCondition>> = if shares_index {
            rule.args.iter().map(|c| vec![*c]).collect()
        } else {
            vec![rule.args.clone()]
        };
        for name in &rule.names {
            for (&arch, by_nr) in rules.iter_mut() {
                let mut add = |nr: u32, conditions: Vec<ArgCondition>| {
                    let rule = Rule { conditions, action };
                    by_nr
                        .entry(nr)
                        .or_default()
                        .push((rule, index, name.as_str()));
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

    let mut decisions: BTreeMap<Arch, BTreeMap<u32, Decision>> = BTreeMap::new();
    let mut code = Code::default();
    // libseccomp's priority of each syscall with an argument tree.
    let mut priorities: BTreeMap<Arch, Vec<(u32, Entry)>> = BTreeMap::new();
    for (&arch, by_nr) in &rules {
        let wide = !matches!(arch, Arch::X86 | Arch::X32 | Arch::Arm);
        let decided = decisions.entry(arch).or_default();
        for (&nr, entries) in by_nr {
            // Most syscalls of a profile have one unconditional rule: no tree to build.
            if let [(rule, _, _)] = entries.as_slice() {
                if rule.conditions.is_empty() {
                    decided.insert(nr, Decision::Return(rule.action));
                    continue;
                }
            }
            let syscall_rules: Vec<Rule> =
                entries.iter().map(|(rule, _, _)| rule.clone()).collect();
            let decision = match tree::build(&syscall_rules, wide) {
                Ok(Syscall::Return(ret)) => Decision::Return(ret),
                Ok(Syscall::Tree(tree)) => {
                    let entry = code.add(&tree, default);
                    priorities
                        .entry(arch)
                        .or_default()
                        .push((tree.priority(), entry));
                    Decision::Tree(entry)
                }
                Err(source) => {
                    let (_, rule, name) = entries[tree_error_rule(&source)];
                    return Err(CompileError::Rule {
                        rule,
                        name: name.to_owned(),
                        arch: arch.short_name(),
                        source,
                    });
                }
            };
            decided.insert(nr, decision);
        }
    }

    let mut asm = Assembler::default();
    let mut blocks: Vec<(usize, Entry)> = Vec::new();
    // Dispatch on the architecture token; x86_64 and x32 share one.
    let mut tokens: Vec<(u32, Vec<Arch>)> = Vec::new();
    for &arch in &arches {
        let token = audit_arch(arch)?;
        match tokens.iter_mut().find(|(t, _)| *t == token) {
            Some((_, list)) => list.push(arch),
            None => tokens.push((token, vec![arch])),
        }
    }
    // libseccomp has one list of syscall checks per token, in filter order, each sorted by
    // priority (highest first; stable, from the syscalls in number order, x86_64's and x32's
    // one after the other); its assembler pulls argument blocks in walking these lists from
    // the very end back.
    for (_, token_arches) in tokens.iter().rev() {
        let mut list: Vec<(u32, Entry)> = token_arches
            .iter()
            .flat_map(|arch| priorities.get(arch).into_iter().flatten().copied())
            .collect();
        list.sort_by_key(|&(priority, _)| std::cmp::Reverse(priority));
        for &(_, entry) in list.iter().rev() {
            code.place(entry);
        }
    }
    let labels: Vec<usize> = tokens.iter().map(|_| asm.new_label()).collect();
    asm.load_abs(4);
    for ((token, _), &label) in tokens.iter().zip(&labels) {
        asm.jump(BPF_JEQ, *token, Target::Label(label), Target::Next);
    }
    asm.ret(BAD_ARCH);
    for ((token, token_arches), &label) in tokens.iter().zip(&labels) {
        asm.place(label);
        asm.load_abs(0);
        let ranges = decision_ranges(*token, token_arches, &decisions, default);
        emit_search(&mut asm, &ranges, &mut blocks);
    }
    code.emit(&mut asm, &blocks);
    let program = asm.finish();
    if program.len() > MAX_INSNS {
        return Err(CompileError::TooLong(program.len()));
    }
    Ok(program)
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

fn multiplexed(name: &str) -> Option<(u32, u64)> {
    if let Some(i) = SOCKET_CALLS.iter().position(|call| *call == name) {
        return Some((SOCKETCALL, i as u64 + 1));
    }
    IPC_CALLS
        .iter()
        .find(|(call, _)| *call == name)
        .map(|&(_, n)| (IPC, n))
}

/// The decision for every syscall number of one architecture token, as ranges `[start, next
/// start)` with equal decisions merged.
fn decision_ranges(
    token: u32,
    token_arches: &[Arch],
    decisions: &BTreeMap<Arch, BTreeMap<u32, Decision>>,
    default: u32,
) -> Vec<(u32, Decision)> {
    // Which parts of the number space the filter covers. libseccomp treats x86_64 and x32 as
    // one number space when both are present; with x86_64 alone, numbers with the x32 bit are a
    // bad architecture, except -1 (no syscall, e.g. after a tracer cancelled it).
    let spans: Vec<(u32, bool)> = if token == AUDIT_ARCH_X86_64 {
        match (
            token_arches.contains(&Arch::X86_64),
            token_arches.contains(&Arch::X32),
        ) {
            (true, false) => vec![(0, true), (X32_SYSCALL_BIT, false), (u32::MAX, true)],
            (false, true) => vec![(0, false), (X32_SYSCALL_BIT, true)],
            _ => vec![(0, true)],
        }
    } else {
        vec![(0, true)]
    };
    let span_of = |nr: u32| {
        spans
            .iter()
            .rposition(|(start, _)| *start <= nr)
            .expect("span 0 starts at 0")
    };
    let mut points: Vec<(u32, Decision)> = spans
        .iter()
        .map(|&(start, covered)| {
            (
                start,
                Decision::Return(if covered { default } else { BAD_ARCH }),
            )
        })
        .collect();
    for &arch in token_arches {
        for (&nr, decision) in &decisions[&arch] {
            let span = span_of(nr);
            if !spans[span].1 {
                continue;
            }
            points.push((nr, *decision));
            if nr < u32::MAX && span_of(nr + 1) == span {
                points.push((nr + 1, Decision::Return(default)));
            }
        }
    }
    points.sort_by_key(|(start, _)| *start);
    // A later point at the same start overrides (a syscall's own decision over the default).
    let mut ranges: Vec<(u32, Decision)> = Vec::new();
    for (start, decision) in points {
        if ranges.last().is_some_and(|(s, _)| *s == start) {
            ranges.pop();
        }
        if ranges.last().is_none_or(|(_, d)| *d != decision) {
            ranges.push((start, decision));
        }
    }
    ranges
}

/// Which of a syscall's rules a tree error is about.
fn tree_error_rule(err: &TreeError) -> usize {
    match *err {
        TreeError::Conflict { rule }
        | TreeError::SameArgument { rule, .. }
        | TreeError::Hang { rule }
        | TreeError::ArgIndex { rule, .. } => rule,
    }
}

/// A balanced binary search over the ranges: `jge` on each split point.
fn emit_search(asm: &mut Assembler, ranges: &[(u32, Decision)], blocks: &mut Vec<(usize, Entry)>) {
    if ranges.len() == 1 {
        match &ranges[0].1 {
            Decision::Return(ret) => asm.ret(*ret),
            Decision::Tree(entry) => {
                let label = asm.new_label();
                blocks.push((label, *entry));
                asm.goto(Target::Label(label));
            }
        }
        return;
    }
    let mid = ranges.len() / 2;
    let right = asm.new_label();
    asm.jump(BPF_JGE, ranges[mid].0, Target::Label(right), Target::Next);
    emit_search(asm, &ranges[..mid], blocks);
    asm.place(right);
    emit_search(asm, &ranges[mid..], blocks);
}
