//! `profile run`: a command confined by a compiled filter, installed right before its exec.
use std::ffi::OsString;

use crate::{
    seccomp::{bpf::SockFilter, install},
    sys::{self, CommandError},
};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("unsupported seccomp flag {0} (known: SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW)")]
    Flag(String),
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
