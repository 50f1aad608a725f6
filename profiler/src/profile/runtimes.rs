//! Whether the calls a profile denies reach the audit stream, per runtime. Pure.
//!
//! The kernel logs a seccomp action by itself only for KILL (and LOG, which denies nothing):
//! `/proc/sys/kernel/seccomp/actions_logged` lists them all, but an ERRNO, TRAP, TRACE or
//! NOTIFY result is logged only when the filter was installed with SECCOMP_FILTER_FLAG_LOG,
//! which a profile asks for in `flags`. What the runtimes do with that field, measured on
//! Debian 12 (docs/rollout.md):
//!
//! - runc 1.1.5 refuses a profile with any flags ("seccomp flags are not yet supported by runc"),
//!   and so do podman 4.3 and containerd 1.6, which hand them to it, as will the kubelet's
//!   runtimes (containerd, CRI-O) running it;
//! - crun 1.8.1 installs the filter with them: its ERRNO denials are logged; runc 1.2 does the
//!   same (its release notes);
//! - `profile run` always adds SECCOMP_FILTER_FLAG_LOG.
//!
//! `profile daemon` sees ERRNO, TRAP, TRACE and NOTIFY denials without any of this (its exit
//! hook), and KILL ones through the audit records the kernel always writes.
use std::fmt;

use super::{ops::Verdict, Action, Profile};

/// The flag that makes the kernel log every action but ALLOW.
pub const FLAG_LOG: &str = "SECCOMP_FILTER_FLAG_LOG";

/// A runtime, as far as `flags` go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// `profile run` (without `--no-log-denials`).
    Run,
    /// runc 1.1, Debian 12's; podman, containerd and the kubelet's runtimes on it.
    Runc,
    /// runc from 1.2 on.
    Runc12,
    /// crun; podman, containerd and the kubelet's runtimes on it.
    Crun,
}

impl Runtime {
    pub const ALL: [Runtime; 4] = [Runtime::Run, Runtime::Runc, Runtime::Runc12, Runtime::Crun];

    /// The name `--runtime` takes.
    pub fn arg(self) -> &'static str {
        match self {
            Runtime::Run => "run",
            Runtime::Runc => "runc",
            Runtime::Runc12 => "runc-1.2",
            Runtime::Crun => "crun",
        }
    }

    pub fn from_arg(text: &str) -> Option<Runtime> {
        Runtime::ALL.into_iter().find(|r| r.arg() == text)
    }

    /// The runtime in a table's first column.
    pub fn label(self) -> &'static str {
        match self {
            Runtime::Run => "profile run",
            Runtime::Runc => "runc 1.1",
            Runtime::Runc12 => "runc 1.2+",
            Runtime::Crun => "crun",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Run => "profile run",
            Runtime::Runc => "runc 1.1 (and podman, containerd or the kubelet on it)",
            Runtime::Runc12 => "runc 1.2 and later",
            Runtime::Crun => "crun (and podman, containerd or the kubelet on it)",
        })
    }
}

/// What becomes of a profile's denials under a runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Logging {
    /// The profile denies nothing (its default and its rules let every call through).
    NothingDenied,
    /// Every denial reaches the audit stream.
    Logged,
    /// Those of these actions do not (KILL ones still do).
    NotLogged(Vec<String>),
    /// The runtime refuses the profile.
    Refused,
}

/// The actions of `profile` that deny a call and that the kernel logs only under the flag.
fn quiet_denials(profile: &Profile) -> Option<Vec<String>> {
    let verdicts = std::iter::once(Verdict::default_of(profile)).chain(
        profile
            .syscalls
            .iter()
            .map(|rule| Verdict::new(rule.action, rule.errno_ret)),
    );
    let mut denies = false;
    let mut quiet: Vec<String> = Vec::new();
    for verdict in verdicts.filter(|v| !v.passes()) {
        denies = true;
        let logged_anyway = matches!(
            verdict.action,
            Action::KillProcess | Action::KillThread | Action::Kill
        );
        let name = verdict.action.to_string();
        if !logged_anyway && !quiet.contains(&name) {
            quiet.push(name);
        }
    }
    denies.then_some(quiet)
}

/// What `runtime` does with the denials of `profile`.
pub fn logging(profile: &Profile, runtime: Runtime) -> Logging {
    let has_flags = !profile.flags.is_empty();
    if runtime == Runtime::Runc && has_flags {
        return Logging::Refused;
    }
    let Some(quiet) = quiet_denials(profile) else {
        return Logging::NothingDenied;
    };
    let flagged = runtime == Runtime::Run || profile.flags.iter().any(|f| f == FLAG_LOG);
    if flagged || quiet.is_empty() {
        Logging::Logged
    } else {
        Logging::NotLogged(quiet)
    }
}

/// One line per runtime: what becomes of the profile's denials there.
pub fn summary(profile: &Profile) -> Vec<(Runtime, Logging, String)> {
    Runtime::ALL
        .into_iter()
        .map(|runtime| {
            let logging = logging(profile, runtime);
            let text = describe(runtime, &logging);
            (runtime, logging, text)
        })
        .collect()
}

/// What happens, in a few words (a table's second column).
pub fn verdict(logging: &Logging) -> String {
    match logging {
        Logging::NothingDenied => "denies nothing".to_owned(),
        Logging::Logged => "every denial logged".to_owned(),
        Logging::NotLogged(actions) => format!("not logged: {}", actions.join(", ")),
        Logging::Refused => "refuses the profile (it has flags)".to_owned(),
    }
}

/// `runtime: what happens`, in one line.
pub fn describe(runtime: Runtime, logging: &Logging) -> String {
    match logging {
        Logging::NothingDenied => format!("{runtime}: the profile denies nothing"),
        Logging::Logged => format!("{runtime}: every denial is logged"),
        Logging::NotLogged(actions) => format!(
            "{runtime}: {} denials are not logged ({}); `profile daemon` still sees those of \
             calls the workload never made",
            actions.join(", "),
            if runtime == Runtime::Runc {
                format!("it refuses {FLAG_LOG}, as any flag")
            } else {
                format!("no {FLAG_LOG}; `profile export --log-denials` adds it")
            }
        ),
        Logging::Refused => format!(
            "{runtime}: refuses the profile, which has flags (\"seccomp flags are not yet \
             supported by runc\"); `profile export` drops them"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::SyscallRule;

    fn profile(default: Action, flags: &[&str], rules: &[Action]) -> Profile {
        Profile {
            default_action: default,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            syscalls: rules
                .iter()
                .map(|&action| SyscallRule {
                    names: vec!["read".into()],
                    action,
                    ..SyscallRule::default()
                })
                .collect(),
            ..Profile::default()
        }
    }

    #[test]
    fn only_the_flag_or_profile_run_logs_errno_denials() {
        let errno = profile(Action::Errno, &[], &[Action::Allow]);
        assert_eq!(logging(&errno, Runtime::Run), Logging::Logged);
        for runtime in [Runtime::Runc, Runtime::Runc12, Runtime::Crun] {
            assert_eq!(
                logging(&errno, runtime),
                Logging::NotLogged(vec!["SCMP_ACT_ERRNO".into()])
            );
        }
        let flagged = profile(Action::Errno, &[FLAG_LOG], &[Action::Allow]);
        assert_eq!(logging(&flagged, Runtime::Runc), Logging::Refused);
        for runtime in [Runtime::Run, Runtime::Runc12, Runtime::Crun] {
            assert_eq!(logging(&flagged, runtime), Logging::Logged);
        }
        // Any flag makes runc 1.1 refuse, even one that logs nothing.
        let spec = profile(Action::Errno, &["SECCOMP_FILTER_FLAG_SPEC_ALLOW"], &[]);
        assert_eq!(logging(&spec, Runtime::Runc), Logging::Refused);
        assert!(matches!(
            logging(&spec, Runtime::Crun),
            Logging::NotLogged(_)
        ));
    }

    #[test]
    fn kill_is_always_logged_and_a_staged_profile_denies_nothing() {
        let kill = profile(Action::KillProcess, &[], &[Action::Allow]);
        assert_eq!(logging(&kill, Runtime::Runc), Logging::Logged);
        // A rule's own block counts too: clone3's ENOSYS under a KILL default.
        let mixed = profile(Action::KillProcess, &[], &[Action::Errno]);
        assert!(matches!(
            logging(&mixed, Runtime::Crun),
            Logging::NotLogged(_)
        ));
        let staged = profile(Action::Log, &[], &[Action::Allow]);
        assert_eq!(logging(&staged, Runtime::Runc), Logging::NothingDenied);
        let with_block = profile(Action::Log, &[], &[Action::Errno]);
        assert!(matches!(
            logging(&with_block, Runtime::Runc),
            Logging::NotLogged(_)
        ));
        let lines = summary(&profile(Action::Errno, &[], &[]));
        assert_eq!(lines.len(), 4);
        assert!(lines[1].2.starts_with("runc 1.1"), "{}", lines[1].2);
        assert!(lines[1]
            .2
            .contains("`profile daemon` still sees those of calls the workload never made"));
        assert_eq!(Runtime::from_arg("runc-1.2"), Some(Runtime::Runc12));
    }
}
