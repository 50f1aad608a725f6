use std::{ffi::OsString, path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use profiler::{
    record::{record_command, CommandOptions, DefaultAction, Format},
    sys::Signals,
};

/// Run a command and record every syscall it, its threads and its children make.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile record -o app.json -- ./app --flag
  profile record --format report -- ls /
  profile record --stage log -o staged.json -- ./server

The command's exit status becomes profile's (128+N when signal N killed it). After the command
exits, recording goes on until its last descendant exits (or --linger expires, or SIGINT).")]
pub struct RecordArgs {
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Oci)]
    format: Format,
    /// What the profile does with syscalls that were not seen.
    #[arg(long, value_enum, default_value_t = DefaultChoice::Errno)]
    default_action: DefaultChoice,
    /// Write the staged form right away (`log`: default action SCMP_ACT_LOG, as `profile stage`).
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        conflicts_with = "default_action"
    )]
    stage: Option<StageChoice>,
    /// errno returned by the default action `errno`.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4095))]
    errno: u32,
    /// Stop waiting for descendants that outlive the command after this long (e.g. 2s, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    linger: Option<Duration>,
    /// The command to record, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(Clone, Copy, ValueEnum)]
enum StageChoice {
    /// SCMP_ACT_LOG: everything the recording did not see is logged, not blocked.
    Log,
}

#[derive(Clone, Copy, ValueEnum)]
enum DefaultChoice {
    /// SCMP_ACT_ERRNO with --errno.
    Errno,
    /// SCMP_ACT_KILL_PROCESS.
    Kill,
    /// SCMP_ACT_LOG: log, do not block (staging).
    Log,
}

/// Returns the exit code profile should end with.
pub fn run(args: RecordArgs) -> anyhow::Result<i32> {
    // Before the runtime exists, so that no thread has the stop signals unblocked.
    let signals = Signals::block().context("blocking signals")?;
    let options = CommandOptions {
        command: args.command,
        output: args.output,
        format: args.format,
        default_action: match (args.stage, args.default_action) {
            (Some(StageChoice::Log), _) => DefaultAction::Log,
            (None, DefaultChoice::Errno) => DefaultAction::Errno(args.errno),
            (None, DefaultChoice::Kill) => DefaultAction::Kill,
            (None, DefaultChoice::Log) => DefaultAction::Log,
        },
        linger: args.linger,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    match runtime.block_on(record_command(&options, signals)) {
        Ok(code) => Ok(code),
        Err(err) => {
            log::error!("{err}");
            Ok(err.exit_code())
        }
    }
}
