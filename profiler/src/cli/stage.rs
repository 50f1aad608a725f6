use std::path::PathBuf;

use clap::Args;
use profiler::profile::{ops, Action};

use super::check::{load, TargetArgs};

/// Stage a profile for a soak: the same rules, default action SCMP_ACT_LOG, so what it would
/// block is logged (for `profile audit`) and let through.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile stage web.json -o web.log.json
  profile promote web.log.json -o web.json     # and back

Every rule is kept, including explicit blocks such as clone3's ENOSYS fallback; only the default
changes (defaultErrnoRet is dropped). Docker conditions are resolved for the target. Output is
canonical. Exit status: 0 written, 2 invalid input (nothing written).")]
pub struct StageArgs {
    /// The profile to stage (any dialect).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: StageArgs) -> anyhow::Result<i32> {
    let checked = load(&args.file, &args.target).map_err(anyhow::Error::msg)?;
    if checked.resolved.default_action == Action::Log {
        log::info!(
            "{}: already staged (default SCMP_ACT_LOG)",
            args.file.display()
        );
    }
    let staged = ops::stage(&checked.resolved);
    profiler::output::emit(args.output.as_deref(), &staged.to_canonical_json())?;
    Ok(0)
}
