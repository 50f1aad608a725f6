//! What a recording saw, and the profile that allows exactly that. Pure: no kernel calls.
use std::collections::BTreeMap;

use super::args::{self, LearnedArgs, Outcome, Restriction};
use crate::{
    profile::{Action, ArgCondition, Profile, SyscallRule, ENOSYS},
    syscalls::Arch,
};

/// Syscall counts by ABI and number, summed over CPUs and processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    pub counts: BTreeMap<(Arch, u64), u64>,
    /// With `record --args`: the argument values learned.
    pub args: Option<LearnedArgs>,
}

/// A counted syscall whose number has no name in its ABI's table. It cannot be allowed by name,
/// so it is reported rather than dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownSyscall {
    pub abi: Arch,
    pub nr: u64,
    pub count: u64,
}

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

impl Recording {
    pub fn add(&mut self, abi: Arch, nr: u64, count: u64) {
        if count > 0 {
            *self.counts.entry((abi, nr)).or_default() += count;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The ABIs seen, in a fixed order.
    pub fn abis(&self) -> Vec<Arch> {
        let mut abis: Vec<Arch> = self.counts.keys().map(|(abi, _)| *abi).collect();
        abis.dedup();
        abis
    }

    pub fn unknown(&self) -> Vec<UnknownSyscall> {
        self.counts
            .iter()
            .filter(|((abi, nr), _)| abi.name(*nr).is_none())
            .map(|(&(abi, nr), &count)| UnknownSyscall { abi, nr, count })
            .collect()
    }

    /// With `--args`: how each listed syscall that was called is restricted, sorted by name.
    pub fn restrictions(&self) -> Option<Vec<Restriction>> {
        let learned = self.args.as_ref()?;
        Some(args::restrictions(&self.counts, learned))
    }

    /// The allow-list of everything seen. OCI rules name syscalls for every listed architecture
    /// at once, so with several ABIs the allowed names are their union. With `--args`, the
    /// restricted syscalls get one rule per allowed value set instead (syscalls with the same
    /// set share it), and clone3 is always refused with ENOSYS.
    pub fn to_profile(&self, default: DefaultAction) -> Profile {
        let mut names: Vec<String> = self
            .counts
            .keys()
            .filter_map(|(abi, nr)| abi.name(*nr))
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

        let (default_action, default_errno_ret) = match default {
            DefaultAction::Errno(errno) => (Action::Errno, Some(errno)),
            DefaultAction::Kill => (Action::KillProcess, None),
            DefaultAction::Log => (Action::Log, None),
        };
        let mut architectures = self.abis();
        if architectures.is_empty() {
            architectures.push(Arch::NATIVE);
        }
        Profile {
            default_action,
            default_errno_ret,
            architectures,
            syscalls,
            ..Profile::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let json = r.to_profile(DefaultAction::Errno(1)).to_json();
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
        let p = r.to_profile(DefaultAction::Kill);
        assert_eq!(p.default_action, Action::KillProcess);
        assert_eq!(p.default_errno_ret, None);
        assert_eq!(p.syscalls.len(), 1);
        assert_eq!(p.syscalls[0].names, ["clone3"]);
    }

    #[test]
    fn architectures_are_the_abis_seen() {
        let r = recording(&[(Arch::X86, 64, 1000), (Arch::X86_64, 110, 1)]);
        let p = r.to_profile(DefaultAction::Log);
        assert_eq!(p.architectures, [Arch::X86_64, Arch::X86]);
        assert_eq!(p.default_action, Action::Log);
        // i386 64 is getppid; it must not show up as x86_64's semget.
        assert_eq!(p.syscalls[0].names, ["getppid"]);
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
            r.to_profile(DefaultAction::Errno(1)).syscalls[0].names,
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
        assert_eq!(r.to_profile(DefaultAction::Errno(1)).to_json(), expected);
        // The same recording without --args allows all four unconditionally.
        r.args = None;
        assert_eq!(
            r.to_profile(DefaultAction::Errno(1)).syscalls[0].names,
            ["clone3", "ioctl", "read", "socket"]
        );
    }

    #[test]
    fn zero_counts_are_not_recorded() {
        let r = recording(&[(Arch::X86_64, 0, 0)]);
        assert!(r.is_empty());
    }
}
