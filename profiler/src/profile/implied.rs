//! Calls a recording cannot be expected to see although the program will make them: the kernel
//! issues them on its own (`restart_syscall`), they follow from something that was seen (a
//! signal handler returns through `rt_sigreturn`), the C library chooses them on a path the
//! program does not control (a thread's exit, the `clone3` → `clone` fallback, the vDSO's
//! fallbacks), or they are the same operation in another form, picked by the data at hand
//! (`pwritev` next to `pwrite64`). `profile record` adds them to every profile unless
//! `--no-implied`; the counts side file lists them so that reports can mark them.
//!
//! Pure: the rules are data, [`implied`] applies them to the names seen. docs/profiles.md has the
//! same table; a unit test keeps the two in step.
use std::collections::{BTreeMap, BTreeSet};

use crate::syscalls::Arch;

/// When a rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// To every profile.
    Always,
    /// When any of these names was seen.
    AnySeen(&'static [&'static str]),
    /// When any of these names was seen and the profile filters i386.
    AnySeenOnI386(&'static [&'static str]),
    /// When the profile filters i386.
    OnI386,
}

/// One rule: the names it adds, when, and why (one line, for reports and docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub names: &'static [&'static str],
    pub when: When,
    pub reason: &'static str,
}

const HANDLERS: &[&str] = &["rt_sigaction", "sigaction", "signal"];
const THREADS: &[&str] = &["clone", "clone3"];

/// The rules, in the order reports list them.
pub const RULES: &[Rule] = &[
    Rule {
        names: &["restart_syscall"],
        when: When::Always,
        reason: "the kernel resumes an interrupted nanosleep, clock_nanosleep, futex or poll \
                 with it after a stop (SIGSTOP/SIGCONT, a debugger) or an ignored signal",
    },
    Rule {
        names: &["rt_sigreturn"],
        when: When::AnySeen(HANDLERS),
        reason: "a signal handler was installed: returning from it is rt_sigreturn, called \
                 when the first signal arrives, which a recording may never see",
    },
    Rule {
        names: &["sigreturn"],
        when: When::AnySeenOnI386(HANDLERS),
        reason: "i386 handlers installed without SA_SIGINFO return through sigreturn",
    },
    Rule {
        names: &["exit", "madvise"],
        when: When::AnySeen(THREADS),
        reason: "a thread that ends frees its stack (madvise) and exits with exit, not \
                 exit_group; threads alive at the end of a recording never did",
    },
    Rule {
        names: &["futex"],
        when: When::AnySeen(THREADS),
        reason: "threads wait for a contended lock with futex; whether a lock is ever \
                 contended is timing",
    },
    Rule {
        names: &["clone"],
        when: When::AnySeen(&["clone3"]),
        reason: "glibc falls back to clone when clone3 fails with ENOSYS (kernels before \
                 5.3, runtimes' default profiles such as Docker's)",
    },
    Rule {
        names: &["clock_gettime", "clock_getres", "gettimeofday", "time"],
        when: When::Always,
        reason: "vDSO clock calls, invisible to a recording; the C library makes the syscall \
                 when the clock source cannot be read from user space (a VM without a stable \
                 TSC, hpet, acpi_pm) or the vDSO is off",
    },
    Rule {
        names: &["clock_gettime64", "clock_getres_time64"],
        when: When::OnI386,
        reason: "the i386 vDSO's fallbacks (64-bit time)",
    },
    Rule {
        names: &["write", "writev"],
        when: When::AnySeen(&["write", "writev"]),
        reason: "the same write in vectored form: which one is used depends on the data at \
                 hand (stdio, logging libraries)",
    },
    Rule {
        names: &["pwrite64", "pwritev", "pwritev2"],
        when: When::AnySeen(&["pwrite64", "pwritev", "pwritev2"]),
        reason: "the same positioned write in vectored form (PostgreSQL writes WAL with \
                 pwrite64 but zero-fills a new segment with pwritev)",
    },
    Rule {
        names: &["read", "readv"],
        when: When::AnySeen(&["read", "readv"]),
        reason: "the same read in vectored form: which one is used depends on the data at hand",
    },
    Rule {
        names: &["pread64", "preadv", "preadv2"],
        when: When::AnySeen(&["pread64", "preadv", "preadv2"]),
        reason: "the same positioned read in vectored form",
    },
];

/// The names the rules add to a profile that allows `seen` and filters `arches`, each with its
/// reason. Names already seen are not listed; names none of `arches` has (i386's `sigreturn`
/// on an x86_64-only profile) are left out. Nothing seen implies nothing: no program ran.
pub fn implied(seen: &BTreeSet<&str>, arches: &[Arch]) -> BTreeMap<&'static str, &'static str> {
    if seen.is_empty() {
        return BTreeMap::new();
    }
    let on_i386 = arches.contains(&Arch::X86);
    let any_seen = |names: &[&str]| names.iter().any(|name| seen.contains(name));
    let mut out = BTreeMap::new();
    for rule in RULES {
        let applies = match rule.when {
            When::Always => true,
            When::AnySeen(names) => any_seen(names),
            When::AnySeenOnI386(names) => on_i386 && any_seen(names),
            When::OnI386 => on_i386,
        };
        if !applies {
            continue;
        }
        for &name in rule.names {
            let known = arches.iter().any(|arch| arch.number(name).is_some());
            if known && !seen.contains(name) {
                out.entry(name).or_insert(rule.reason);
            }
        }
    }
    out
}

/// Why a rule adds `name`, if one does.
pub fn reason(name: &str) -> Option<&'static str> {
    RULES
        .iter()
        .find(|rule| rule.names.contains(&name))
        .map(|rule| rule.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(seen: &[&'static str], arches: &[Arch]) -> Vec<&'static str> {
        let seen: BTreeSet<&str> = seen.iter().copied().collect();
        implied(&seen, arches).into_keys().collect()
    }

    #[test]
    fn implied_always_restart_syscall_and_the_vdso_fallbacks() {
        assert_eq!(
            names(&["exit_group"], &[Arch::X86_64]),
            [
                "clock_getres",
                "clock_gettime",
                "gettimeofday",
                "restart_syscall",
                "time"
            ]
        );
        assert!(names(&[], &[Arch::X86_64]).is_empty());
    }

    #[test]
    fn implied_sigreturn_follows_a_handler_and_the_abi() {
        let x86_64 = names(&["rt_sigaction"], &[Arch::X86_64]);
        assert!(x86_64.contains(&"rt_sigreturn"), "{x86_64:?}");
        assert!(!x86_64.contains(&"sigreturn"), "{x86_64:?}");
        let both = names(&["signal"], &[Arch::X86_64, Arch::X86]);
        for name in ["rt_sigreturn", "sigreturn", "clock_gettime64"] {
            assert!(both.contains(&name), "{name}: {both:?}");
        }
        assert!(!names(&["read"], &[Arch::X86_64]).contains(&"rt_sigreturn"));
    }

    #[test]
    fn implied_threads_and_forms() {
        let threads = names(&["clone3", "pwrite64", "readv"], &[Arch::X86_64]);
        for name in [
            "exit", "madvise", "futex", "clone", "pwritev", "pwritev2", "read",
        ] {
            assert!(threads.contains(&name), "{name}: {threads:?}");
        }
        // Seen names are not implied, and one form does not bring in the other family.
        for name in ["clone3", "pwrite64", "readv", "write", "pread64"] {
            assert!(!threads.contains(&name), "{name}: {threads:?}");
        }
    }

    #[test]
    fn implied_names_exist_and_reasons_are_one_line() {
        for rule in RULES {
            assert!(!rule.reason.contains('\n') && !rule.reason.contains("  "));
            for name in rule.names {
                assert!(
                    Arch::RECORDED
                        .iter()
                        .any(|arch| arch.number(name).is_some()),
                    "{name}"
                );
                assert_eq!(reason(name), Some(rule.reason), "{name} is in two rules");
            }
        }
    }

    #[test]
    fn implied_rules_are_in_the_docs() {
        let docs = include_str!("../../../docs/profiles.md");
        for rule in RULES {
            for name in rule.names {
                assert!(
                    docs.contains(&format!("`{name}`")),
                    "{name} not in docs/profiles.md"
                );
            }
        }
    }
}
