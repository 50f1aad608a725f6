use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use profiler::seccomp::{self, bpf};

use super::check::{load, TargetArgs};

/// Compile a profile to classic BPF: the raw `struct sock_filter` array libseccomp's
/// `seccomp_export_bpf` writes, or a listing.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile compile --profile app.json -o app.bpf
  profile compile --profile moby-default.json --disasm
  profile compile --profile app.json --arch aarch64 -o app-arm64.bpf

Docker conditions are resolved for --arch/--kernel/--cap (default: this machine, Docker's 14
capabilities). The filter decides by the profile's meaning (docs/profiles.md): all conditions
of a rule must hold, and where rules with different actions match, the strictest wins.

Exit status: 0 written, 2 invalid input.")]
pub struct CompileArgs {
    /// The profile (any dialect `profile check` reads).
    #[arg(long, value_name = "FILE")]
    profile: PathBuf,
    /// Write the raw filter here (atomically).
    #[arg(short, long, value_name = "FILE", required_unless_present = "disasm")]
    output: Option<PathBuf>,
    /// Print the program as a listing.
    #[arg(long)]
    disasm: bool,
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: CompileArgs) -> anyhow::Result<i32> {
    let checked = load(&args.profile, &args.target).map_err(anyhow::Error::msg)?;
    let program = match seccomp::compile(&checked.resolved, checked.target.arch) {
        Ok(program) => program,
        Err(err) => {
            log::error!("{}: {err}", args.profile.display());
            return Ok(2);
        }
    };
    if let Some(output) = &args.output {
        let bytes: Vec<u8> = program.iter().flat_map(|insn| insn.to_bytes()).collect();
        profiler::output::write_atomic(output, &bytes).context("writing the filter")?;
    }
    if args.disasm {
        profiler::output::emit(None, &bpf::disassemble(&program))?;
    }
    log::info!("{} instructions", program.len());
    Ok(0)
}
