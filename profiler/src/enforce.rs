//! `profile run`: a command confined by a compiled filter, installed right before its exec.
use std::ffi::OsString;

use crate::{
    seccomp::{
        bpf::{self, SeccompData, SockFilter},
        expand::audit_arch,
        install, RET_ALLOW, RET_LOG,
    },
    sys::{self, CommandError},
    syscalls::Arch,
};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("unsupported seccomp flag {0} (known: SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW)")]
    Flag(String),
    #[error("the profile does not allow execve on {arch} ({action}), which starts the command once the filter is in: add execve to the profile")]
    NoExec { arch: &'static str, action: String },
    #[error("profile run enforces on this machine ({native}), not on {asked}: use `profile compile --arch {asked}` for a filter for another architecture")]
    ForeignArch {
        native: &'static str,
        asked: &'static str,
    },
}

impl RunError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Command(err) => err.exit_code(),
            _ => 2,
        }
    }
}

/// The `seccomp(2)` flags for a profile's `flags`. TSYNC only matters for threads that exist at
/// install time, and `profile run` has one (an exec ends any others anyway).
pub fn filter_flags(names: &[String]) -> Result<u32, RunError> {
    names.iter().try_fold(0, |flags, name| match name.as_str() {
        "SECCOMP_FILTER_FLAG_TSYNC" => Ok(flags),
        "SECCOMP_FILTER_FLAG_LOG" => Ok(flags | install::FLAG_LOG),
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => Ok(flags | install::FLAG_SPEC_ALLOW),
        other => Err(RunError::Flag(other.to_owned())),
    })
}

/// Checks that `program`, compiled for this machine's architecture `native`, lets the
/// `execve` that starts the command through: otherwise the command would die of the filter
/// before it starts, with nothing said.
pub fn check_exec(program: &[SockFilter], native: Arch) -> Result<(), RunError> {
    let no_exec = |action: String| RunError::NoExec {
        arch: native.short_name(),
        action,
    };
    let (Ok(token), Some(nr)) = (audit_arch(native), native.number("execve")) else {
        return Err(no_exec("no execve on this architecture".into()));
    };
    let data = SeccompData {
        nr: nr as u32,
        arch: token,
        ..SeccompData::default()
    };
    match bpf::run(program, &data) {
        Ok(ret) if ret == RET_ALLOW || ret == RET_LOG => Ok(()),
        Ok(ret) => Err(no_exec(crate::seccomp::action_name(ret))),
        Err(err) => Err(no_exec(err)),
    }
}

/// Replaces this process with `command` confined by `program`, as runc and setpriv do: the
/// command keeps our pid, gets its signals directly and its exit status is its own. Returns only
/// when that failed. Nothing runs between the filter and the exec but the `execve` itself,
/// which the profile must allow.
pub fn exec_confined(program: &[SockFilter], flags: u32, command: &[OsString]) -> RunError {
    let (name, _) = command.split_first().expect("clap requires a command");
    let path = match sys::resolve_program(name, std::env::var_os("PATH").as_deref()) {
        Ok(path) => path,
        Err(err) => return err.into(),
    };
    sys::exec_prepared(&path, command, || install::install(program, flags)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_without_execve_is_refused() {
        use crate::profile::{Action, Profile, SyscallRule};
        let profile = |names: &[&str]| Profile {
            default_action: Action::Errno,
            syscalls: vec![SyscallRule {
                names: names.iter().map(|n| n.to_string()).collect(),
                action: Action::Allow,
                ..SyscallRule::default()
            }],
            ..Profile::default()
        };
        let with = crate::seccomp::compile(&profile(&["execve", "read"]), Arch::X86_64).unwrap();
        assert!(check_exec(&with, Arch::X86_64).is_ok());
        let without = crate::seccomp::compile(&profile(&["read"]), Arch::X86_64).unwrap();
        let err = check_exec(&without, Arch::X86_64).unwrap_err();
        assert!(err.to_string().contains("execve"), "{err}");
        assert!(err.to_string().contains("ERRNO(1)"), "{err}");
    }

    #[test]
    fn flags() {
        assert_eq!(filter_flags(&[]).unwrap(), 0);
        assert_eq!(
            filter_flags(&["SECCOMP_FILTER_FLAG_LOG".into()]).unwrap(),
            install::FLAG_LOG
        );
        let err = filter_flags(&["SECCOMP_FILTER_FLAG_NEW_LISTENER".into()]).unwrap_err();
        assert!(
            err.to_string().contains("SECCOMP_FILTER_FLAG_NEW_LISTENER"),
            "{err}"
        );
    }
}
