//! Profile → classic BPF that decides by the profile's meaning. Pure: no kernel calls.
//!
//! The meaning of the argument checks is in [`args`](super::args). Everything around them
//! follows libseccomp as runc drives it, where libseccomp is right: the native architecture is
//! always filtered; unknown names are skipped per architecture; i386's socket and IPC calls are
//! also filtered through their multiplexers; a call from an architecture that is not in the
//! filter gets KILL_THREAD; and a profile libseccomp refuses (so runc, crun and podman cannot
//! start a container with it) is refused with libseccomp's reason.
use std::collections::BTreeMap;

use super::{
    args::{ArgCode, Entry, TooComplex, Width},
    bpf::{Assembler, SockFilter, MAX_INSNS},
    error::CompileError,
    expand::{expand, Reading},
    layout::{self, Decision},
    libseccomp,
};
use crate::{profile::Profile, syscalls::Arch};

/// The argument width of an ABI: 32 bits for the ABIs whose C types are 32 bits wide.
pub fn width(arch: Arch) -> Width {
    match arch {
        Arch::X86 | Arch::X32 | Arch::Arm => Width::Bits32,
        _ => Width::Bits64,
    }
}

/// Compiles `profile` for a kernel whose native architecture is `native`.
pub fn compile(profile: &Profile, native: Arch) -> Result<Vec<SockFilter>, CompileError> {
    libseccomp::accepts(profile, native)?;
    let expanded = expand(profile, native, Reading::Meaning, None)?;
    let mut code = ArgCode::new(expanded.default);
    let mut decisions: BTreeMap<Arch, BTreeMap<u32, Decision<usize>>> = BTreeMap::new();
    for (&arch, by_nr) in &expanded.rules {
        let decided = decisions.entry(arch).or_default();
        for (&nr, sourced) in by_nr {
            let decision = match code.add(sourced.iter().map(|s| &s.rule), width(arch)) {
                Ok(Entry::Return(ret)) => Decision::Return(ret),
                Ok(Entry::Node(node)) => Decision::Args(node),
                Err(TooComplex) => {
                    return Err(CompileError::TooComplex {
                        name: sourced[0].name.to_owned(),
                        arch: arch.short_name(),
                    })
                }
            };
            decided.insert(nr, decision);
        }
    }
    let mut asm = Assembler::default();
    let entries = layout::emit(&mut asm, &expanded.arches, &decisions, expanded.default)?;
    let entries: Vec<(usize, Entry)> = entries
        .list
        .into_iter()
        .map(|(label, node)| (label, Entry::Node(node)))
        .collect();
    code.emit(&mut asm, &entries);
    let program = asm.finish();
    if program.len() > MAX_INSNS {
        return Err(CompileError::TooLong(program.len()));
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        profile::{Action, ArgCondition, ArgOp, SyscallRule},
        seccomp::{
            bpf::{run, SeccompData},
            expand::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64},
            RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_LOG, RET_TRAP,
        },
    };

    const GETPPID: u32 = 110;
    const EPERM: u32 = RET_ERRNO | 1;

    fn rule(action: Action, errno: Option<u32>, args: &[(u32, ArgOp, u64)]) -> SyscallRule {
        SyscallRule {
            names: vec!["getppid".into()],
            action,
            errno_ret: errno,
            args: args
                .iter()
                .map(|&(index, op, value)| ArgCondition {
                    index,
                    value,
                    value_two: 0,
                    op,
                })
                .collect(),
            ..SyscallRule::default()
        }
    }

    fn profile(rules: Vec<SyscallRule>) -> Profile {
        Profile {
            default_action: Action::Errno,
            default_errno_ret: Some(1),
            syscalls: rules,
            ..Profile::default()
        }
    }

    fn decide(program: &[SockFilter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let data = SeccompData {
            nr,
            arch,
            args,
            ..Default::default()
        };
        run(program, &data).unwrap()
    }

    fn a0(v: u64) -> [u64; 6] {
        [v, 0, 0, 0, 0, 0]
    }

    /// The profile of the issue that found libseccomp's skipped reload: by its meaning 5 and 8
    /// match no rule.
    #[test]
    fn two_rules_on_one_argument_decide_by_meaning() {
        let p = profile(vec![
            rule(Action::Errno, Some(2), &[(0, ArgOp::LessThan, 5)]),
            rule(
                Action::Allow,
                None,
                &[(0, ArgOp::GreaterThan, 0x1_0000_0003)],
            ),
        ]);
        let program = compile(&p, Arch::X86_64).unwrap();
        let at = |v| decide(&program, AUDIT_ARCH_X86_64, GETPPID, a0(v));
        assert_eq!(at(4), RET_ERRNO | 2);
        for v in [5, 8, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0003] {
            assert_eq!(at(v), EPERM, "{v:#x}");
        }
        assert_eq!(at(0x1_0000_0004), RET_ALLOW);
        assert_eq!(at(u64::MAX), RET_ALLOW);
    }

    /// Where rules with different actions match, the kernel's order decides, whatever the
    /// order of the rules.
    #[test]
    fn the_strictest_matching_action_wins() {
        let allow = rule(Action::Allow, None, &[(1, ArgOp::Equal, 7)]);
        let trap = rule(Action::Trap, None, &[(0, ArgOp::Equal, 5)]);
        let log = rule(Action::Log, None, &[(0, ArgOp::GreaterOrEqual, 5)]);
        let kill = rule(Action::KillProcess, None, &[(2, ArgOp::Equal, 1)]);
        for rules in [
            vec![allow.clone(), trap.clone(), log.clone(), kill.clone()],
            vec![kill, log, trap, allow],
        ] {
            let program = compile(&profile(rules), Arch::X86_64).unwrap();
            let at = |args| decide(&program, AUDIT_ARCH_X86_64, GETPPID, args);
            assert_eq!(at([5, 7, 0, 0, 0, 0]), RET_TRAP);
            assert_eq!(at([6, 7, 0, 0, 0, 0]), RET_LOG);
            assert_eq!(at([4, 7, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(at([5, 7, 1, 0, 0, 0]), RET_KILL_PROCESS);
            assert_eq!(at([4, 8, 0, 0, 0, 0]), EPERM);
        }
        // Two errnos: the smaller.
        let program = compile(
            &profile(vec![
                rule(Action::Errno, Some(13), &[(0, ArgOp::Equal, 1)]),
                rule(Action::Errno, Some(2), &[(1, ArgOp::Equal, 1)]),
            ]),
            Arch::X86_64,
        )
        .unwrap();
        let at = |args| decide(&program, AUDIT_ARCH_X86_64, GETPPID, args);
        assert_eq!(at([1, 1, 0, 0, 0, 0]), RET_ERRNO | 2);
        assert_eq!(at([1, 0, 0, 0, 0, 0]), RET_ERRNO | 13);
    }

    /// All the conditions of a rule must hold, also two on one argument (runc ORs those).
    #[test]
    fn conditions_on_one_argument_are_anded() {
        let p = profile(vec![rule(
            Action::Allow,
            None,
            &[(0, ArgOp::GreaterOrEqual, 5), (0, ArgOp::LessOrEqual, 10)],
        )]);
        let program = compile(&p, Arch::X86_64).unwrap();
        let at = |v| decide(&program, AUDIT_ARCH_X86_64, GETPPID, a0(v));
        for (v, want) in [(4, EPERM), (5, RET_ALLOW), (10, RET_ALLOW), (11, EPERM)] {
            assert_eq!(at(v), want, "{v}");
        }
        assert_eq!(at(0x1_0000_0007), EPERM);
    }

    /// On i386 arguments and values are 32-bit numbers: the high words of the register and of
    /// the value do not count.
    #[test]
    fn i386_arguments_are_32_bits() {
        let mut p = profile(vec![
            rule(Action::Allow, None, &[(0, ArgOp::Equal, 0x1_0000_0005)]),
            rule(Action::Trap, None, &[(0, ArgOp::Equal, 7)]),
        ]);
        p.architectures = vec![Arch::X86_64, Arch::X86];
        let program = compile(&p, Arch::X86_64).unwrap();
        let i386_getppid = 64;
        let at = |v| decide(&program, AUDIT_ARCH_I386, i386_getppid, a0(v));
        assert_eq!(at(5), RET_ALLOW);
        assert_eq!(at(0x1_0000_0005), RET_ALLOW);
        assert_eq!(at(6), EPERM);
        assert_eq!(at(7), RET_TRAP);
        assert_eq!(at(0xdead_0000_0007), RET_TRAP);
        // x86_64 compares all 64 bits.
        let at = |v| decide(&program, AUDIT_ARCH_X86_64, GETPPID, a0(v));
        assert_eq!(at(0x1_0000_0005), RET_ALLOW);
        assert_eq!(at(0xdead_0000_0007), EPERM);
    }

    #[test]
    fn masked_equal_is_exact() {
        let masked = |mask: u64, value: u64| SyscallRule {
            args: vec![ArgCondition {
                index: 0,
                value: mask,
                value_two: value,
                op: ArgOp::MaskedEqual,
            }],
            ..rule(Action::Allow, None, &[])
        };
        let program = compile(
            &profile(vec![masked(0xff00_0000_00f0, 0x1200_0000_0030)]),
            Arch::X86_64,
        )
        .unwrap();
        let at = |v| decide(&program, AUDIT_ARCH_X86_64, GETPPID, a0(v));
        assert_eq!(at(0x1200_0000_0030), RET_ALLOW);
        assert_eq!(at(0x12ff_ffff_ff3f), RET_ALLOW);
        assert_eq!(at(0x1300_0000_0030), EPERM);
        assert_eq!(at(0x1200_0000_0040), EPERM);
        // A value with bits outside the mask never matches.
        let program = compile(&profile(vec![masked(0xf0, 0x31)]), Arch::X86_64).unwrap();
        assert_eq!(
            decide(&program, AUDIT_ARCH_X86_64, GETPPID, a0(0x31)),
            EPERM
        );
    }

    /// A set of values on one argument costs one instruction per value.
    #[test]
    fn thousands_of_values_fit() {
        let values: Vec<u64> = (0..3000u64).map(|i| 0x5400 + i * 13 + (i % 7)).collect();
        let rules = values
            .iter()
            .map(|&v| rule(Action::Allow, None, &[(1, ArgOp::Equal, v)]))
            .collect();
        let program = compile(&profile(rules), Arch::X86_64).unwrap();
        assert!(program.len() < 3030, "{} instructions", program.len());
        for &v in values.iter().step_by(97) {
            let at = |a1| decide(&program, AUDIT_ARCH_X86_64, GETPPID, [0, a1, 0, 0, 0, 0]);
            assert_eq!(at(v), RET_ALLOW, "{v:#x}");
            assert_eq!(at(v + 1), EPERM, "{:#x}", v + 1);
            assert_eq!(at(v | 1 << 32), EPERM, "{:#x}", v | 1 << 32);
        }
    }

    /// Rules on many arguments at once could multiply into more checks than a filter holds:
    /// refused with the syscall's name, quickly.
    #[test]
    fn argument_checks_beyond_any_filter_are_refused() {
        let rules = (0..64u64)
            .map(|i| {
                rule(
                    if i % 2 == 0 {
                        Action::Allow
                    } else {
                        Action::Trap
                    },
                    None,
                    &[
                        (0, ArgOp::GreaterThan, i * 3),
                        (1, ArgOp::LessThan, 1000 - i * 7),
                        (2, ArgOp::Equal, i % 5),
                        (3, ArgOp::NotEqual, i),
                    ],
                )
            })
            .collect();
        let err = compile(&profile(rules), Arch::X86_64).unwrap_err();
        assert!(
            matches!(
                err,
                CompileError::TooComplex { .. } | CompileError::TooLong(_)
            ),
            "{err}"
        );
    }

    /// libseccomp refuses one condition leading to two actions (EEXIST): so do we.
    #[test]
    fn what_libseccomp_refuses_is_refused() {
        let p = profile(vec![
            rule(Action::Trap, None, &[(0, ArgOp::Equal, 5)]),
            rule(Action::Allow, None, &[(0, ArgOp::Equal, 5)]),
        ]);
        assert!(matches!(
            compile(&p, Arch::X86_64),
            Err(CompileError::Rule { rule: 1, .. })
        ));
    }
}
