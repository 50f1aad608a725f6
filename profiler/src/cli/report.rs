use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use profiler::{
    profile::runtimes::Runtime,
    recording::counts::{self, Counts},
    report::{docker, render, Report},
};

use super::check::{load, TargetArgs};

/// Show what a profile allows, how risky each allowed syscall is, how often a recording saw it,
/// and how it compares with Docker's default or another profile.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile report app.json
  profile report app.json --against docker
  profile report app.json --against other.json --json
  profile report app.json --against docker --fail-on high,extra   # a CI gate

One row per allowed syscall, high risk first: its ABIs, the calls recorded (from FILE.counts,
which `profile record -o FILE` writes next to the profile), the risk class and why (the table is
in docs/cli.md). --against docker compares with Docker's default profile, built in and resolved
for the target (this machine and Docker's 14 capabilities unless --arch, --kernel or --cap say
otherwise); a file named docker is ./docker. The last line sums up: syscalls allowed on the native
architecture out of those it has, high- and medium-risk ones, and the share of the comparison
profile's. Then, per runtime, whether the calls the profile denies reach the audit stream (the
kernel logs ERRNO, TRAP and TRACE denials only under SECCOMP_FILTER_FLAG_LOG; `profile run` adds
it, crun and runc 1.2 take it from `flags`, runc 1.1 refuses any flags): --runtime shows that
runtime's line only and warns when its denials are not logged. Colour only on a terminal, never
with NO_COLOR set. Exit status: 0 reported, 1 a --fail-on condition holds, 2 invalid input (also
when the --runtime refuses the profile).")]
pub struct ReportArgs {
    /// The profile (any dialect `profile check` reads).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Compare with `docker` (Docker's default profile, built in) or with a profile file.
    #[arg(long, value_name = "docker|FILE")]
    against: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Recorded counts to show (default: FILE.counts when it exists).
    #[arg(long, value_name = "COUNTS", conflicts_with = "no_counts")]
    counts: Option<PathBuf>,
    /// Show no counts, even when FILE.counts exists.
    #[arg(long)]
    no_counts: bool,
    /// Exit 1 when the profile allows a high-risk syscall (high), a medium- or high-risk one
    /// (medium), or one the --against profile denies (extra); repeat or separate with commas.
    #[arg(long, value_enum, value_name = "WHAT", value_delimiter = ',')]
    fail_on: Vec<FailOn>,
    /// The runtime the profile is for: run, runc (1.1), runc-1.2 or crun.
    #[arg(long, value_name = "RUNTIME", value_parser = super::check::parse_runtime)]
    runtime: Option<Runtime>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    /// A high-risk syscall is allowed.
    High,
    /// A medium- or high-risk syscall is allowed.
    Medium,
    /// A syscall the --against profile denies is allowed (on the native architecture).
    Extra,
}

pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    match report(&args) {
        Ok((report, failed)) => {
            let text = if args.json {
                render::json(&report)
            } else {
                render::text(&report, render::use_color())
            };
            profiler::output::emit(None, &text)?;
            Ok(if failed { 1 } else { 0 })
        }
        Err(message) => {
            log::error!("{message}");
            Ok(2)
        }
    }
}

/// The report and whether a --fail-on condition holds; `Err` is the one-line message.
fn report(args: &ReportArgs) -> Result<(Report, bool), String> {
    if args.fail_on.contains(&FailOn::Extra) && args.against.is_none() {
        return Err(
            "--fail-on extra compares with another profile; add --against docker or --against FILE"
                .to_owned(),
        );
    }
    let checked = load(&args.file, &args.target)?;
    let source = args.file.display().to_string();
    super::check::runtime_differences(&checked, &source)?;
    super::check::denial_logging(&checked.resolved, args.runtime, &source)?;
    let counts = read_counts(&args.file, args.counts.as_deref(), args.no_counts)?;
    let mut report = Report::new(
        &source,
        &checked.resolved,
        checked.target.arch,
        counts
            .as_ref()
            .map(|(name, counts)| (name.as_str(), counts)),
    );
    if let Some(counts) = &report.counts {
        if !counts.not_allowed.is_empty() {
            log::warn!(
                "{}: {} counted syscall(s) the profile does not allow (edited since the recording?)",
                counts.source,
                counts.not_allowed.len()
            );
        }
    }
    if let Some(runtime) = args.runtime {
        report.denials.retain(|(r, ..)| *r == runtime);
    }
    match args.against.as_deref() {
        None => {}
        Some(docker::NAME) => {
            let profile = docker::default_profile(&checked.target)?;
            report.compare(docker::NAME, &docker::describe(&checked.target), &profile);
        }
        Some(file) => {
            let other = load(Path::new(file), &args.target)?;
            report.compare(file, &super::check::describe(&other), &other.resolved);
        }
    }
    let tally = report.tally();
    let extra = report
        .against
        .as_ref()
        .map_or(0, |against| against.native().only_here.len());
    let reasons: Vec<String> = args
        .fail_on
        .iter()
        .filter_map(|what| match what {
            FailOn::High if tally.high > 0 => Some(format!("{} high-risk allowed", tally.high)),
            FailOn::Medium if tally.high + tally.medium > 0 => Some(format!(
                "{} high- or medium-risk allowed",
                tally.high + tally.medium
            )),
            FailOn::Extra if extra > 0 => Some(format!(
                "{extra} allowed that {} denies",
                args.against.as_deref().unwrap_or_default()
            )),
            _ => None,
        })
        .collect();
    let failed = !reasons.is_empty();
    if failed {
        log::warn!("{source}: --fail-on: {}", reasons.join(", "));
    }
    Ok((report, failed))
}

/// The counts to show: `--counts`, else FILE.counts if it exists, else none.
pub(super) fn read_counts(
    file: &Path,
    explicit: Option<&Path>,
    none: bool,
) -> Result<Option<(String, Counts)>, String> {
    if none {
        return Ok(None);
    }
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => {
            let side = counts::side_file(file);
            if !side.exists() {
                return Ok(None);
            }
            side
        }
    };
    let source = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|err| format!("reading {source}: {err}"))?;
    let counts = Counts::parse(&text, &source)?;
    log::info!("counts from {source}");
    Ok(Some((source, counts)))
}
