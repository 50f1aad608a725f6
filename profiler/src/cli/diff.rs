use std::path::PathBuf;

use clap::Args;
use profiler::{output::diff::DiffText as _, profile::ops};

use super::check::{load, TargetArgs};

/// Show what changed between two profiles: default action, architectures, and the syscalls
/// added and removed per action and architecture.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile diff web.json web2.json
  profile diff --json web.json web2.json
  profile diff moby-default.json app.json --arch aarch64

Profiles are compared by what they do, not how they are laid out: rule order, names split over
rules and condition order do not matter, and ERRNO without errnoRet equals errnoRet 1. Per
architecture each profile filters (its list plus the native one), names that architecture's table
lacks are left out, as libseccomp skips them. Output: `-name`/`+name` per action (with argument
conditions), architectures with the same changes grouped; nothing when equal. Exit status: 0
equal, 1 different, 2 invalid input.")]
pub struct DiffArgs {
    /// The old profile (any dialect).
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The new profile (any dialect).
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// Print the differences as JSON (always, also when equal).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: DiffArgs) -> anyhow::Result<i32> {
    let (old, new) = match (load(&args.old, &args.target), load(&args.new, &args.target)) {
        (Ok(old), Ok(new)) => (old, new),
        (old, new) => {
            for err in [old.err(), new.err()].into_iter().flatten() {
                log::error!("{err}");
            }
            return Ok(2);
        }
    };
    let diff = ops::diff(&old.resolved, &new.resolved, old.target.arch);
    let text = if args.json {
        diff.to_json()
    } else {
        diff.to_text(
            &args.old.display().to_string(),
            &args.new.display().to_string(),
        )
    };
    profiler::output::emit(None, &text)?;
    Ok(if diff.is_empty() { 0 } else { 1 })
}
