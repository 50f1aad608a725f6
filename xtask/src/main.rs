//! Project tasks: `cargo xtask setup|build|run|test|bench|man`.
mod bench;
mod fuzz;
mod man;
mod setup;

use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what building and testing need (nightly rust-src, bpf-linker, Debian packages).
    Setup,
    /// Set up, then build everything in release mode.
    Build,
    /// Build, then run the release `profile` binary with these arguments.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build, and run every test (unit tests, the end-to-end tests, which need root, and
    /// the fuzz targets for a fixed number of runs).
    Test {
        /// Passed to `cargo test` (e.g. a test name filter); with any, the fuzz targets are not
        /// run.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure the syscall overhead of recording next to other tracers.
    Bench(bench::BenchArgs),
    /// Run the fuzz targets (profile, audit_line, duration) from their corpus in fuzz/corpus.
    Fuzz {
        /// Only this target.
        target: Option<String>,
        /// Runs per target.
        #[arg(long, default_value_t = fuzz::TEST_RUNS)]
        runs: u64,
    },
    /// Regenerate the man pages in docs/man from the CLI definitions (--check: only compare).
    Man {
        #[arg(long)]
        check: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.task {
        Task::Setup => setup::run(),
        Task::Build => {
            setup::run()?;
            cargo(&["build", "--release"])
        }
        Task::Run { args } => {
            setup::run()?;
            cargo(&["build", "--release"])?;
            let status = Command::new(workspace_root().join("target/release/profile"))
                .args(&args)
                .status()
                .context("running profile")?;
            std::process::exit(status.code().unwrap_or(1));
        }
        Task::Test { args } => {
            setup::run()?;
            // `cargo test` builds only the binaries of the package under test; the end-to-end
            // tests run the `profile` binary, so build it first.
            cargo(&["build"])?;
            // Every test target runs even when one fails, so a run shows all failures.
            let mut test = vec!["test", "--no-fail-fast"];
            test.extend(args.iter().map(String::as_str));
            cargo(&test)?;
            if args.is_empty() {
                fuzz::run(fuzz::TEST_RUNS, None)?;
            }
            Ok(())
        }
        Task::Bench(args) => {
            setup::run()?;
            cargo(&["build", "--release"])?;
            bench::run(args)
        }
        Task::Fuzz { target, runs } => {
            setup::run()?;
            fuzz::run(runs, target.as_deref())
        }
        Task::Man { check } => man::run(check),
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_owned()
}

/// Runs cargo (the stable toolchain, as invoked) in the workspace root.
fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs a command and returns its stdout, failing with its stderr.
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
