use std::{ffi::OsString, path::PathBuf};

use clap::Args;
use profiler::{enforce, seccomp, seccomp::install, syscalls::native_arch};

use super::check::{load, TargetArgs};

/// Run a command confined by a profile: compile it, install it with seccomp, exec in place.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile run --profile app.json -- ./app --flag
  profile run --profile /usr/share/containers/seccomp.json -- ls /

The command replaces `profile` (same pid, signals reach it directly). The filter is installed
with SECCOMP_FILTER_FLAG_LOG, so every call it denies reaches the audit stream (what `profile
audit` and `profile daemon` read) with the process and the action, whatever the profile's flags;
--no-log-denials leaves that to the profile's `flags`. Exit status: the command's own; 127 not
found, 126 not executable, 2 invalid profile.")]
pub struct RunArgs {
    /// The profile (any dialect `profile check` reads).
    #[arg(long, value_name = "FILE")]
    profile: PathBuf,
    #[command(flatten)]
    target: TargetArgs,
    /// Do not add SECCOMP_FILTER_FLAG_LOG: denials are logged only if the profile's flags ask.
    #[arg(long)]
    no_log_denials: bool,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

pub fn run(args: RunArgs) -> anyhow::Result<i32> {
    let checked = load(&args.profile, &args.target).map_err(anyhow::Error::msg)?;
    let native = checked.target.arch;
    let prepared = match native_arch() {
        Some(here) if here != native => Err(enforce::RunError::ForeignArch {
            native: here.short_name(),
            asked: native.short_name(),
        }
        .to_string()),
        _ => seccomp::compile(&checked.resolved, native).map_err(|err| err.to_string()),
    }
    .and_then(|program| {
        enforce::check_exec(&program, native).map_err(|err| err.to_string())?;
        let flags =
            enforce::filter_flags(&checked.resolved.flags).map_err(|err| err.to_string())?;
        let log = if args.no_log_denials {
            0
        } else {
            install::FLAG_LOG
        };
        Ok((program, flags | log))
    });
    let (program, flags) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => {
            log::error!("{}: {message}", args.profile.display());
            return Ok(2);
        }
    };
    let err = enforce::exec_confined(&program, flags, &args.command);
    log::error!("{err}");
    Ok(err.exit_code())
}
