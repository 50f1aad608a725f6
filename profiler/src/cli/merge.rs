use std::path::PathBuf;

use clap::Args;
use profiler::{
    profile::{
        ops::{self, Input},
        Profile,
    },
    recording::counts::{self, Counts},
};

use super::check::{load, TargetArgs};

/// Merge profiles into one that allows everything any of them allows (recordings of several
/// replicas, or a recording and `profile audit`'s findings).
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile merge web-a.json web-b.json web-c.json -o web.json
  profile merge web.json seen.json -o web2.json
  profile merge moby-default.json extra.json --arch x86_64 --kernel 6.1 -o out.json

Architectures are united; a name any input allows unconditionally is allowed. When inputs
disagree on a syscall an unconditional allow wins, then the union of conditional allows, then the
most permissive action (LOG, TRACE, ERRNO, TRAP, KILL_THREAD, KILL_PROCESS); the default action is
the most permissive of the inputs'. Each disagreement is printed as a warning naming the files.
clone3's ENOSYS fallback (as `profile record` writes it) stays unless an input allows clone3.
The output is canonical and the same for the inputs in any order. With -o, the inputs' counts
side files (FILE.counts, written by `profile record`) are merged into OUT.counts: counts summed,
implied and group-added names united (a name any input saw is no longer implied). Exit status:
0 written, 2 invalid input (nothing written).")]
pub struct MergeArgs {
    /// The profiles to merge (any dialect; Docker conditions are resolved for the target).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
}

/// Loads every file, logging each failure on one line; `None` when any failed.
pub(super) fn load_all(files: &[PathBuf], target: &TargetArgs) -> Option<Vec<(String, Profile)>> {
    let mut loaded = Vec::new();
    let mut failed = false;
    for file in files {
        match load(file, target) {
            Ok(checked) => loaded.push((file.display().to_string(), checked.resolved)),
            Err(message) => {
                log::error!("{message}");
                failed = true;
            }
        }
    }
    (!failed).then_some(loaded)
}

/// Merges loaded profiles; `keep` chooses which conflicts are worth a warning.
pub(super) fn merge_loaded(
    loaded: &[(String, Profile)],
    keep: impl Fn(&ops::Conflict) -> bool,
) -> anyhow::Result<Profile> {
    let inputs: Vec<Input> = loaded
        .iter()
        .map(|(source, profile)| Input { source, profile })
        .collect();
    let merged = ops::merge(&inputs)?;
    for conflict in merged.conflicts.iter().filter(|c| keep(c)) {
        log::warn!("{conflict}");
    }
    Ok(merged.profile)
}

pub fn run(args: MergeArgs) -> anyhow::Result<i32> {
    let Some(loaded) = load_all(&args.files, &args.target) else {
        return Ok(2);
    };
    let profile = merge_loaded(&loaded, |_| true)?;
    let counts = match &args.output {
        Some(_) => match merged_counts(&args.files) {
            Ok(counts) => counts,
            Err(message) => {
                log::error!("{message}");
                return Ok(2);
            }
        },
        None => None,
    };
    profiler::output::emit(args.output.as_deref(), &profile.to_canonical_json())?;
    if let (Some(output), Some(counts)) = (&args.output, counts) {
        profiler::output::write_atomic(&counts::side_file(output), counts.to_json().as_bytes())?;
    }
    Ok(0)
}

/// The inputs' side files merged; `None` when no input has one.
fn merged_counts(files: &[PathBuf]) -> Result<Option<Counts>, String> {
    let mut merged: Option<Counts> = None;
    for file in files {
        if let Some((_, counts)) = super::report::read_counts(file, None, false)? {
            merged.get_or_insert_with(Counts::default).merge(&counts);
        }
    }
    Ok(merged)
}
