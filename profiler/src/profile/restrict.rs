//! `record --args`: from the argument values the kernel side learned ([`ARG_KINDS`]) to rules
//! that allow only those values. Pure: no kernel calls.
//!
//! A listed syscall is restricted when every call of it could be inspected (the native ABI and
//! the compat one: x86_64 and i386, or aarch64 and arm; not x32, not i386's `socketcall` or old
//! `mmap`, whose arguments are in user memory) and its
//! value set did not overflow; otherwise it stays unconditionally allowed, and the reason is
//! reported. clone3's flags are learned as clone's and clone3 itself is refused with ENOSYS,
//! so glibc falls back to clone, whose flags seccomp can see.
use std::collections::{BTreeMap, BTreeSet};

use profiler_common::{
    ArgKind, ALL_BITS, ARG_CLONE, ARG_CLONE3, ARG_KINDS, ARG_SOCKET, MAX_ARG_VALUES, PROT_WX,
};

use crate::{
    profile::{ArgCondition, ArgOp},
    recording::args::LearnedArgs,
    syscalls::Arch,
};

/// The outcome for one listed syscall that was called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restriction {
    pub name: &'static str,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed when one of these condition sets holds (each set ANDed, sets ORed; sorted).
    Only(Vec<Vec<ArgCondition>>),
    /// Allowed unconditionally, because of this.
    Unrestricted(Why),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// More than [`MAX_ARG_VALUES`] distinct values, or one could not be stored or read.
    Overflow,
    /// Called through an ABI whose calls of it are not inspected.
    NotInspected(Arch),
    /// PROT_WRITE and PROT_EXEC were requested together.
    WriteExec,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Overflow => write!(
                f,
                "more than {MAX_ARG_VALUES} distinct values (or one could not be read)"
            ),
            Why::NotInspected(arch) => write!(f, "called through {arch}, not inspected there"),
            Why::WriteExec => write!(f, "PROT_WRITE|PROT_EXEC was requested"),
        }
    }
}

/// The syscall name of a kind on a machine whose native and compat ABIs are `abis`: its native
/// name, or its compat one for compat-only kinds (i386's fcntl64, arm's mmap2).
fn kind_name_on(kind: &ArgKind, (native, compat): (Arch, Arch)) -> &'static str {
    let name = if kind.native != 0 {
        native.name(kind.native)
    } else {
        compat.name(kind.compat)
    };
    name.expect("every ARG_KINDS number has a name")
}

fn kind_name(kind: &ArgKind) -> &'static str {
    kind_name_on(kind, (Arch::NATIVE, Arch::COMPAT))
}

/// The number of a kind's syscall on `abi`, when calls through it are inspected.
fn inspected(kind: &ArgKind, abi: Arch) -> Option<u64> {
    let nr = if abi == Arch::NATIVE {
        kind.native
    } else if abi == Arch::COMPAT {
        kind.compat
    } else {
        0
    };
    (nr != 0).then_some(nr)
}

/// The names of every listed syscall, restricted or not (for docs and reports).
pub fn listed_names() -> BTreeSet<&'static str> {
    ARG_KINDS.iter().map(kind_name).collect()
}

/// For every listed syscall that was called (by name, through any ABI in `counts`), whether
/// and how it is restricted. clone3 is never in the list: under `--args` it is refused with
/// ENOSYS, and its calls make `clone` one (restricted by the flags clone3 was called with).
/// Sorted by name.
pub fn restrictions(
    counts: &BTreeMap<(Arch, u64), u64>,
    learned: &LearnedArgs,
) -> Vec<Restriction> {
    let mut out = Vec::new();
    for (index, kind) in ARG_KINDS.iter().enumerate() {
        let index = index as u32;
        if index == ARG_CLONE3 {
            continue;
        }
        // The kinds whose calls feed this one's values.
        let sources: &[u32] = if index == ARG_CLONE {
            &[ARG_CLONE, ARG_CLONE3]
        } else {
            std::slice::from_ref(&index)
        };
        let mut called = false;
        let mut not_inspected = None;
        for &source in sources {
            let source_kind = &ARG_KINDS[source as usize];
            let name = kind_name(source_kind);
            for &(abi, nr) in counts.keys() {
                if abi.name(nr) != Some(name) {
                    continue;
                }
                called = true;
                if inspected(source_kind, abi) != Some(nr) {
                    not_inspected.get_or_insert(abi);
                }
            }
        }
        if !called {
            continue;
        }
        let set = learned.sets.get(&index);
        let outcome = match (not_inspected, set) {
            (Some(abi), _) => Outcome::Unrestricted(Why::NotInspected(abi)),
            // Called but nothing kept: a value was lost on the way; never restrict on less.
            (None, None) => Outcome::Unrestricted(Why::Overflow),
            (None, Some(set)) if set.overflow || set.values.len() > MAX_ARG_VALUES as usize => {
                Outcome::Unrestricted(Why::Overflow)
            }
            (None, Some(set)) if set.values.is_empty() => Outcome::Unrestricted(Why::Overflow),
            (None, Some(set)) => conditions(index, kind, &set.values),
        };
        out.push(Restriction {
            name: kind_name(kind),
            outcome,
        });
    }
    out.sort_by_key(|r| r.name);
    out
}

const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;

/// The rules that allow exactly `values` of kind `index`.
fn conditions(index: u32, kind: &ArgKind, values: &BTreeSet<u64>) -> Outcome {
    let cond = |arg: u32, mask: u64, value: u64| -> ArgCondition {
        if mask == ALL_BITS {
            ArgCondition {
                index: arg,
                value,
                value_two: 0,
                op: ArgOp::Equal,
            }
        } else {
            ArgCondition {
                index: arg,
                value: mask,
                value_two: value,
                op: ArgOp::MaskedEqual,
            }
        }
    };
    if kind.mask == PROT_WX {
        if values.contains(&PROT_WX) {
            return Outcome::Unrestricted(Why::WriteExec);
        }
        // seccomp has no "not": every combination but W|X, whichever of them were seen.
        return Outcome::Only(
            [0, PROT_WRITE, PROT_EXEC]
                .into_iter()
                .map(|v| vec![cond(kind.arg, PROT_WX, v)])
                .collect(),
        );
    }
    let mut ways: Vec<Vec<ArgCondition>> = values
        .iter()
        .map(|&value| {
            if index == ARG_SOCKET {
                // The family is an int: compared whole, as the kernel passes it zero-extended.
                vec![
                    cond(kind.arg, ALL_BITS, value >> 32),
                    cond(kind.arg2, kind.mask2, value & kind.mask2),
                ]
            } else {
                vec![cond(kind.arg, kind.mask, value)]
            }
        })
        .collect();
    ways.sort();
    Outcome::Only(ways)
}

#[cfg(test)]
mod tests {
    use profiler_common::{CLONE_NEW_MASK, UNSHARE_NEW_MASK};

    use super::*;

    fn counts(calls: &[(Arch, u64)]) -> BTreeMap<(Arch, u64), u64> {
        calls.iter().map(|&key| (key, 1)).collect()
    }

    /// The native call of this name.
    fn native(name: &str) -> (Arch, u64) {
        (Arch::NATIVE, Arch::NATIVE.number(name).unwrap())
    }

    fn kind_of(name: &str) -> u32 {
        ARG_KINDS
            .iter()
            .position(|kind| kind_name(kind) == name)
            .unwrap() as u32
    }

    fn eq(index: u32, value: u64) -> ArgCondition {
        ArgCondition {
            index,
            value,
            value_two: 0,
            op: ArgOp::Equal,
        }
    }

    fn masked(index: u32, mask: u64, value: u64) -> ArgCondition {
        ArgCondition {
            index,
            value: mask,
            value_two: value,
            op: ArgOp::MaskedEqual,
        }
    }

    /// Both machines' tables: each kind is the same syscall on both ABIs of both machines, in the
    /// same order (the kind is the index, which the maps and the rules share).
    #[test]
    fn every_kind_names_the_same_syscall_on_every_abi_it_inspects() {
        use profiler_common::{aarch64, x86_64};
        let machines = [
            (&x86_64::ARG_KINDS, (Arch::X86_64, Arch::X86)),
            (&aarch64::ARG_KINDS, (Arch::Aarch64, Arch::Arm)),
        ];
        for (index, kind) in x86_64::ARG_KINDS.iter().enumerate() {
            let name = kind_name_on(kind, machines[0].1);
            for (table, (native, compat)) in machines {
                let kind = &table[index];
                assert_eq!(kind_name_on(kind, (native, compat)), name, "kind {index}");
                for (abi, nr) in [(native, kind.native), (compat, kind.compat)] {
                    if nr != 0 {
                        assert_eq!(abi.name(nr), Some(name), "{name} on {abi}");
                    }
                }
                assert_eq!(
                    (kind.arg, kind.mask, kind.arg2, kind.mask2),
                    (
                        x86_64::ARG_KINDS[index].arg,
                        x86_64::ARG_KINDS[index].mask,
                        x86_64::ARG_KINDS[index].arg2,
                        x86_64::ARG_KINDS[index].mask2
                    ),
                    "{name}"
                );
            }
        }
        assert_eq!(kind_name(&ARG_KINDS[ARG_SOCKET as usize]), "socket");
        assert_eq!(kind_name(&ARG_KINDS[ARG_CLONE as usize]), "clone");
        assert_eq!(kind_name(&ARG_KINDS[ARG_CLONE3 as usize]), "clone3");
    }

    #[test]
    fn values_become_sorted_equality_and_mask_rules() {
        let mut learned = LearnedArgs::default();
        // AF_UNIX stream and dgram, AF_INET stream.
        for value in [(2 << 32) | 1, (1 << 32) | 2, (1 << 32) | 1] {
            learned.add_value(ARG_SOCKET, value);
        }
        learned.add_value(kind_of("ioctl"), 0x5401);
        learned.add_value(kind_of("ioctl"), 0x10);
        learned.add_value(ARG_CLONE, 0);
        learned.add_value(kind_of("unshare"), 0x1000_0000);
        let calls = counts(&[
            native("socket"),
            native("ioctl"),
            native("clone"),
            native("unshare"),
        ]);
        let r = restrictions(&calls, &learned);
        let names: Vec<&str> = r.iter().map(|r| r.name).collect();
        assert_eq!(names, ["clone", "ioctl", "socket", "unshare"]);
        assert_eq!(
            r[0].outcome,
            Outcome::Only(vec![vec![masked(0, CLONE_NEW_MASK, 0)]])
        );
        assert_eq!(
            r[1].outcome,
            Outcome::Only(vec![vec![eq(1, 0x10)], vec![eq(1, 0x5401)]])
        );
        assert_eq!(
            r[2].outcome,
            Outcome::Only(vec![
                vec![eq(0, 1), masked(1, 0xf, 1)],
                vec![eq(0, 1), masked(1, 0xf, 2)],
                vec![eq(0, 2), masked(1, 0xf, 1)],
            ])
        );
        assert_eq!(
            r[3].outcome,
            Outcome::Only(vec![vec![masked(0, UNSHARE_NEW_MASK, 0x1000_0000)]])
        );
    }

    #[test]
    fn uncalled_syscalls_produce_nothing_and_lost_values_nothing_restrictive() {
        let mut learned = LearnedArgs::default();
        learned.add_value(kind_of("prctl"), 15);
        // prctl never called (the value is stale), ioctl called with nothing kept.
        let r = restrictions(&counts(&[native("ioctl")]), &learned);
        assert_eq!(
            r,
            [Restriction {
                name: "ioctl",
                outcome: Outcome::Unrestricted(Why::Overflow)
            }]
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn overflow_and_uninspected_abis_leave_the_syscall_unconditional() {
        let mut learned = LearnedArgs::default();
        for v in 0..u64::from(MAX_ARG_VALUES) + 1 {
            learned.add_value(kind_of("ioctl"), v);
        }
        learned.add_value(kind_of("prctl"), 1);
        learned.overflow(kind_of("fcntl"));
        learned.add_value(kind_of("fcntl"), 1);
        // x32's ioctl is its own number 514, prctl is inspected on x86_64 but also came
        // through x32.
        let calls = counts(&[
            (Arch::X86_64, 16),
            (Arch::X86_64, 157),
            (Arch::X32, 157),
            (Arch::X86_64, 72),
        ]);
        let outcome = |name: &str| {
            restrictions(&calls, &learned)
                .into_iter()
                .find(|r| r.name == name)
                .unwrap()
                .outcome
        };
        assert_eq!(outcome("ioctl"), Outcome::Unrestricted(Why::Overflow));
        assert_eq!(outcome("fcntl"), Outcome::Unrestricted(Why::Overflow));
        assert_eq!(
            outcome("prctl"),
            Outcome::Unrestricted(Why::NotInspected(Arch::X32))
        );
    }

    #[test]
    fn write_exec_is_refused_unless_it_was_seen() {
        let mut learned = LearnedArgs::default();
        learned.add_value(kind_of("mmap"), 2);
        learned.add_value(kind_of("mprotect"), 6);
        let r = restrictions(&counts(&[native("mmap"), native("mprotect")]), &learned);
        assert_eq!(
            r[0].outcome,
            Outcome::Only(vec![
                vec![masked(2, 6, 0)],
                vec![masked(2, 6, 2)],
                vec![masked(2, 6, 4)],
            ])
        );
        assert_eq!(r[1].outcome, Outcome::Unrestricted(Why::WriteExec));
    }

    #[test]
    fn clone3_calls_make_clone_a_restricted_syscall() {
        let mut learned = LearnedArgs::default();
        learned.add_value(ARG_CLONE, 0);
        let r = restrictions(&counts(&[native("clone3")]), &learned);
        assert_eq!(
            r,
            [Restriction {
                name: "clone",
                outcome: Outcome::Only(vec![vec![masked(0, CLONE_NEW_MASK, 0)]])
            }]
        );
        // i386 socketcall is a different name: socket through it is not listed at all.
        #[cfg(target_arch = "x86_64")]
        assert!(restrictions(&counts(&[(Arch::X86, 102)]), &learned).is_empty());
    }
}
