//! `profile run`: a command confined by a compiled filter, installed between fork and exec.
use std::{ffi::OsString, io};

use crate::{
    child,
    seccomp::{bpf::SockFilter, install},
    sys::{self, CommandError, Signals},
};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("unsupported seccomp flag {0} (known: SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW)")]
    Flag(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: io::Error,
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
/// install time, and the child has one.
pub fn filter_flags(names: &[String]) -> Result<u32, RunError> {
    names.iter().try_fold(0, |flags, name| match name.as_str() {
        "SECCOMP_FILTER_FLAG_TSYNC" => Ok(flags),
        "SECCOMP_FILTER_FLAG_LOG" => Ok(flags | install::FLAG_LOG),
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => Ok(flags | install::FLAG_SPEC_ALLOW),
        other => Err(RunError::Flag(other.to_owned())),
    })
}

/// Runs `command` under `program` and returns its exit code (128 + N when killed by signal N).
pub async fn run_command(
    program: &[SockFilter],
    flags: u32,
    command: &[OsString],
    signals: Signals,
) -> Result<i32, RunError> {
    let (name, _) = command.split_first().expect("clap requires a command");
    let path = sys::resolve_program(name, std::env::var_os("PATH").as_deref())?;
    let pid = sys::spawn_prepared(&path, command, &signals.original_mask, || {
        install::install(program, flags).map_err(|err| err.raw_os_error().unwrap_or(libc::EINVAL))
    })?;
    let signal_fd = child::poll_readable(signals).map_err(|source| RunError::Io {
        what: "polling signals",
        source,
    })?;
    let status = child::wait(pid, &signal_fd)
        .await
        .map_err(|source| RunError::Io {
            what: "waiting for the command",
            source,
        })?;
    Ok(sys::exit_code(status))
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
