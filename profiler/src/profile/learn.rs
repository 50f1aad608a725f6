//! From a recording to the profile that allows exactly what it saw, plus the calls the kernel
//! and the C library imply and the groups asked for. Pure: no kernel calls.
use std::collections::{BTreeMap, BTreeSet};

use super::restrict::{self, Outcome, Restriction};
use crate::{
    profile::{implied, Action, ArgCondition, Profile, SyscallRule, ENOSYS},
    recording::{Additions, Recording},
};

/// How the recorded allow-list treats everything it did not see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// `SCMP_ACT_ERRNO` with this errno.
    Errno(u32),
    /// `SCMP_ACT_KILL_PROCESS`.
    Kill,
    /// `SCMP_ACT_LOG`: staging, nothing is blocked.
    Log,
}

/// How a recording becomes a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileOptions {
    pub default: DefaultAction,
    /// Add the calls the kernel and the C library imply ([`implied`]); `--no-implied` clears it.
    pub implied: bool,
    /// `--allow-group`: each group with its members, expanded
    /// ([`crate::profile::groups::expand`]).
    pub groups: Vec<(String, BTreeSet<&'static str>)>,
}

impl From<DefaultAction> for ProfileOptions {
    /// The defaults: implied calls added, no groups.
    fn from(default: DefaultAction) -> ProfileOptions {
        ProfileOptions {
            default,
            implied: true,
            groups: Vec::new(),
        }
    }
}

/// A recording made into a profile: what [`ProfileOptions`] add, how `--args` restricts, and the
/// profile itself. A trait so that the recording stays data, below the profile model.
pub trait Learn {
    /// What `options` add to the names seen.
    fn additions(&self, options: &ProfileOptions) -> Additions;
    /// With `--args`: how each listed syscall that was called is restricted, sorted by name.
    fn restrictions(&self) -> Option<Vec<Restriction>>;
    /// The allow-list of everything seen and everything `options` add.
    fn to_profile(&self, options: &ProfileOptions) -> Profile;
}

impl Learn for Recording {
    /// What `options` add to the names seen.
    fn additions(&self, options: &ProfileOptions) -> Additions {
        let seen = self.names();
        let arches = self.architectures();
        // With --args the listed syscalls get the rules their learned values give, and clone3
        // is refused; nothing added may allow them unconditionally.
        let mut covered = seen.clone();
        covered.insert("clone3");
        if self.args.is_some() {
            covered.extend(restrict::listed_names());
        }
        let mut additions = Additions::default();
        if options.implied {
            additions.implied = implied::implied(&seen, &arches)
                .into_iter()
                .filter(|(name, _)| !covered.contains(name))
                .collect();
        }
        covered.extend(additions.implied.keys());
        for (group, members) in &options.groups {
            let added: BTreeSet<&'static str> = members
                .iter()
                .copied()
                .filter(|name| {
                    !covered.contains(name) && arches.iter().any(|a| a.number(name).is_some())
                })
                .collect();
            covered.extend(&added);
            additions.groups.insert(group.clone(), added);
        }
        additions
    }

    /// With `--args`: how each listed syscall that was called is restricted, sorted by name.
    fn restrictions(&self) -> Option<Vec<Restriction>> {
        let learned = self.args.as_ref()?;
        Some(restrict::restrictions(&self.counts, learned))
    }

    /// The allow-list of everything seen and everything `options` add. OCI rules name syscalls
    /// for every listed architecture at once, so with several ABIs the allowed names are their
    /// union. With `--args`, the restricted syscalls get one rule per allowed value set instead
    /// (syscalls with the same set share it), and clone3 is always refused with ENOSYS.
    fn to_profile(&self, options: &ProfileOptions) -> Profile {
        let mut names: Vec<String> = self
            .names()
            .into_iter()
            .chain(self.additions(options).names())
            .map(str::to_owned)
            .collect();
        let restrictions = self.restrictions();
        let mut conditional: BTreeMap<Vec<ArgCondition>, Vec<String>> = BTreeMap::new();
        if let Some(restrictions) = &restrictions {
            names.retain(|name| name != "clone3");
            for restriction in restrictions {
                names.retain(|name| name != restriction.name);
                match &restriction.outcome {
                    Outcome::Only(ways) => {
                        for way in ways {
                            conditional
                                .entry(way.clone())
                                .or_default()
                                .push(restriction.name.to_owned());
                        }
                    }
                    // clone3's calls make clone one of them even when clone was not called.
                    Outcome::Unrestricted(_) => names.push(restriction.name.to_owned()),
                }
            }
        }
        names.sort();
        names.dedup();

        let mut syscalls = Vec::new();
        // Without clone3, glibc's pthread_create and posix_spawn would hit the default action;
        // ENOSYS makes them fall back to clone, which the profile allows.
        let needs_clone3_fallback = !names.iter().any(|name| name == "clone3");
        if !names.is_empty() {
            syscalls.push(SyscallRule {
                names,
                action: Action::Allow,
                ..SyscallRule::default()
            });
        }
        let mut conditional: Vec<(Vec<String>, Vec<ArgCondition>)> = conditional
            .into_iter()
            .map(|(args, mut names)| {
                names.sort();
                (names, args)
            })
            .collect();
        conditional.sort();
        for (names, args) in conditional {
            syscalls.push(SyscallRule {
                names,
                action: Action::Allow,
                args,
                ..SyscallRule::default()
            });
        }
        if needs_clone3_fallback {
            syscalls.push(SyscallRule {
                names: vec!["clone3".to_owned()],
                action: Action::Errno,
                errno_ret: Some(ENOSYS),
                ..SyscallRule::default()
            });
        }

        let (default_action, default_errno_ret) = match options.default {
            DefaultAction::Errno(errno) => (Action::Errno, Some(errno)),
            DefaultAction::Kill => (Action::KillProcess, None),
            DefaultAction::Log => (Action::Log, None),
        };
        Profile {
            default_action,
            default_errno_ret,
            architectures: self.architectures(),
            syscalls,
            ..Profile::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        recording::{args::LearnedArgs, UnknownSyscall},
        syscalls::Arch,
    };

    /// Only what was seen: the tests of the other additions are below.
    fn seen_only(default: DefaultAction) -> ProfileOptions {
        ProfileOptions {
            implied: false,
            ..default.into()
        }
    }

    fn recording(entries: &[(Arch, u64, u64)]) -> Recording {
        let mut r = Recording::default();
        for &(abi, nr, count) in entries {
            r.add(abi, nr, count);
        }
        r
    }

    #[test]
    fn profile_allows_sorted_names_and_adds_the_clone3_fallback() {
        let r = recording(&[
            (Arch::X86_64, 59, 1),
            (Arch::X86_64, 0, 10),
            (Arch::X86_64, 231, 1),
        ]);
        let json = r.to_profile(&seen_only(DefaultAction::Errno(1))).to_json();
        let expected = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "architectures": [
    "SCMP_ARCH_X86_64"
  ],
  "syscalls": [
    {
      "names": [
        "execve",
        "exit_group",
        "read"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "names": [
        "clone3"
      ],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 38
    }
  ]
}
"#;
        assert_eq!(json, expected);
    }

    #[test]
    fn observed_clone3_is_allowed_without_the_fallback() {
        let r = recording(&[(Arch::X86_64, 435, 2)]);
        let p = r.to_profile(&seen_only(DefaultAction::Kill));
        assert_eq!(p.default_action, Action::KillProcess);
        assert_eq!(p.default_errno_ret, None);
        assert_eq!(p.syscalls.len(), 1);
        assert_eq!(p.syscalls[0].names, ["clone3"]);
    }

    #[test]
    fn architectures_are_the_abis_seen() {
        let r = recording(&[(Arch::X86, 64, 1000), (Arch::X86_64, 110, 1)]);
        let p = r.to_profile(&seen_only(DefaultAction::Log));
        assert_eq!(p.architectures, [Arch::X86_64, Arch::X86]);
        assert_eq!(p.default_action, Action::Log);
        // i386 64 is getppid; it must not show up as x86_64's semget.
        assert_eq!(p.syscalls[0].names, ["getppid"]);
    }

    #[test]
    fn summary_counts_named_syscalls_per_abi() {
        let one = recording(&[
            (Arch::X86_64, 0, 3),
            (Arch::X86_64, 1, 1),
            (Arch::X86_64, 999, 1),
        ]);
        assert_eq!(one.summary(), "2 syscalls (x86_64)");
        let two = recording(&[(Arch::X86_64, 0, 3), (Arch::X86, 3, 1), (Arch::X86, 4, 1)]);
        // read is x86_64 0 and i386 3: one name, counted on both ABIs.
        assert_eq!(two.summary(), "2 syscalls (x86_64 1, i386 2)");
    }

    /// Bogus i386 and x32 numbers (no name in their tables) must not open the profile's names
    /// to those ABIs.
    #[test]
    fn numbers_without_a_name_add_no_architecture() {
        let r = recording(&[
            (Arch::X86_64, 110, 1),
            (Arch::X86, 5000, 7),
            (Arch::X32, 4000, 7),
        ]);
        let p = r.to_profile(&DefaultAction::Errno(1).into());
        assert_eq!(p.architectures, [Arch::X86_64]);
        assert_eq!(r.unknown().len(), 2);
    }

    #[test]
    fn unknown_numbers_are_reported_not_named() {
        let r = recording(&[(Arch::X86_64, 999, 3), (Arch::X86_64, 0, 1)]);
        assert_eq!(
            r.unknown(),
            [UnknownSyscall {
                abi: Arch::X86_64,
                nr: 999,
                count: 3
            }]
        );
        assert_eq!(
            r.to_profile(&seen_only(DefaultAction::Errno(1))).syscalls[0].names,
            ["read"]
        );
    }

    #[test]
    fn learned_args_restrict_their_syscalls_and_always_refuse_clone3() {
        use profiler_common::{ARG_CLONE, ARG_SOCKET};
        let mut r = recording(&[
            (Arch::X86_64, 0, 3),
            (Arch::X86_64, 41, 2),
            (Arch::X86_64, 435, 1),
            (Arch::X86_64, 16, 1),
        ]);
        let mut learned = LearnedArgs::default();
        learned.add_value(ARG_SOCKET, (1 << 32) | 1);
        learned.add_value(ARG_CLONE, 0);
        learned.overflow(6);
        r.args = Some(learned);
        let expected = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "architectures": [
    "SCMP_ARCH_X86_64"
  ],
  "syscalls": [
    {
      "names": [
        "ioctl",
        "read"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "names": [
        "clone"
      ],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {
          "index": 0,
          "value": 2114060288,
          "op": "SCMP_CMP_MASKED_EQ"
        }
      ]
    },
    {
      "names": [
        "socket"
      ],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {
          "index": 0,
          "value": 1,
          "op": "SCMP_CMP_EQ"
        },
        {
          "index": 1,
          "value": 15,
          "valueTwo": 1,
          "op": "SCMP_CMP_MASKED_EQ"
        }
      ]
    },
    {
      "names": [
        "clone3"
      ],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 38
    }
  ]
}
"#;
        assert_eq!(
            r.to_profile(&seen_only(DefaultAction::Errno(1))).to_json(),
            expected
        );
        // The same recording without --args allows all four unconditionally.
        r.args = None;
        assert_eq!(
            r.to_profile(&seen_only(DefaultAction::Errno(1))).syscalls[0].names,
            ["clone3", "ioctl", "read", "socket"]
        );
    }

    #[test]
    fn zero_counts_are_not_recorded() {
        let r = recording(&[(Arch::X86_64, 0, 0)]);
        assert!(r.is_empty());
    }

    #[test]
    fn implied_calls_and_groups_are_added_and_listed() {
        // execve, rt_sigaction, pwrite64, clone3.
        let r = recording(&[
            (Arch::X86_64, 59, 1),
            (Arch::X86_64, 13, 1),
            (Arch::X86_64, 18, 1),
            (Arch::X86_64, 435, 1),
        ]);
        let options = ProfileOptions {
            groups: vec![(
                "@signal".to_owned(),
                crate::profile::groups::expand("@signal").unwrap(),
            )],
            ..DefaultAction::Errno(1).into()
        };
        let additions = r.additions(&options);
        for name in [
            "restart_syscall",
            "rt_sigreturn",
            "pwritev",
            "exit",
            "clone",
        ] {
            assert!(
                additions.implied.contains_key(name),
                "{name}: {additions:?}"
            );
        }
        let signal = &additions.groups["@signal"];
        assert!(signal.contains("rt_sigprocmask"), "{signal:?}");
        // Seen, or i386-only: not added by the group.
        assert!(!signal.contains("rt_sigaction") && !signal.contains("sigaction"));
        let names = &r.to_profile(&options).syscalls[0].names;
        for name in ["execve", "restart_syscall", "rt_sigprocmask", "pwritev2"] {
            assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
        }
        assert!(
            !r.to_profile(&seen_only(DefaultAction::Errno(1))).syscalls[0]
                .names
                .iter()
                .any(|n| n == "restart_syscall")
        );
    }

    #[test]
    fn implied_calls_leave_args_restrictions_alone() {
        use profiler_common::ARG_CLONE;
        let mut r = recording(&[(Arch::X86_64, 435, 1), (Arch::X86_64, 0, 1)]);
        let mut learned = LearnedArgs::default();
        learned.add_value(ARG_CLONE, 0);
        r.args = Some(learned);
        let options = ProfileOptions {
            groups: vec![(
                "@process".to_owned(),
                crate::profile::groups::expand("@process").unwrap(),
            )],
            ..DefaultAction::Errno(1).into()
        };
        let profile = r.to_profile(&options);
        let unconditional = &profile.syscalls[0].names;
        for name in ["clone", "clone3", "unshare", "prctl"] {
            assert!(
                !unconditional.iter().any(|n| n == name),
                "{name}: {unconditional:?}"
            );
        }
        assert!(
            unconditional.iter().any(|n| n == "wait4"),
            "{unconditional:?}"
        );
        assert_eq!(profile.syscalls.last().unwrap().names, ["clone3"]);
    }
}
