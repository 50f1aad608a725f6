use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::check::{load, TargetArgs};

/// Write a profile back out in canonical form: plain OCI resolved for a target (what runc, crun
/// and the kubelet need), or the Docker form as is.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile export moby-default.json -o runc-seccomp.json
  profile export moby-default.json --arch aarch64 --kernel 6.1 --cap default,sys_admin
  profile export --format docker /usr/share/containers/seccomp.json -o podman.json

oci resolves archMap and includes/excludes as moby does (runc and crun silently ignore those
fields) for this machine unless --arch, --kernel or --cap say otherwise; docker keeps them.
Output is canonical (names sorted within rules, fixed field order): exporting twice gives the
same bytes. Exit status: 0 written, 2 invalid input.")]
pub struct ExportArgs {
    /// The profile to read (any dialect).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[arg(long, value_enum, default_value_t = ExportFormat::Oci)]
    format: ExportFormat,
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// Plain OCI linux.seccomp, resolved for the target.
    Oci,
    /// The Docker/moby dialect, conditions kept (containers' errno names become numbers).
    Docker,
}

pub fn run(args: ExportArgs) -> anyhow::Result<i32> {
    let checked = match load(&args.file, &args.target) {
        Ok(checked) => checked,
        Err(message) => {
            log::error!("{message}");
            return Ok(2);
        }
    };
    let text = match args.format {
        ExportFormat::Oci => checked.resolved.to_canonical_json(),
        // The Docker form serves every architecture, so names unknown to this target's tables
        // stay: they may be another architecture's.
        ExportFormat::Docker => checked.parsed.profile.to_canonical_json(),
    };
    profiler::output::emit(args.output.as_deref(), &text)?;
    Ok(0)
}
