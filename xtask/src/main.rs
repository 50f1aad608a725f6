//! Project tasks: `cargo xtask setup|build|run|test|bench|man`.
mod bench;
mod debian;
mod man;
mod setup;
mod vm;

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
    /// Set up, then build everything in release mode (`--target aarch64-unknown-linux-gnu`: the
    /// `profile` binary for arm64, with Debian's cross linker).
    Build {
        #[arg(long)]
        target: Option<String>,
    },
    /// Build, then run the release `profile` binary with these arguments.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build, and run every test (unit tests and the end-to-end tests; needs root).
    Test {
        /// Passed to `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Boot Debian's kernels (5.10, 6.1, 6.12, 7.x; arm64 6.1) in qemu and run the end-to-end
    /// subset in each; checks docs/platforms.md against the run.
    VmTest(vm::VmArgs),
    /// Measure the syscall overhead of recording next to other tracers.
    Bench(bench::BenchArgs),
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
        Task::Build { target: None } => {
            setup::run()?;
            cargo(&["build", "--release"])
        }
        Task::Build {
            target: Some(target),
        } => {
            if target != setup::ARM64_TARGET {
                bail!("cross builds are for {} only", setup::ARM64_TARGET);
            }
            setup::run()?;
            setup::cross()?;
            cargo(&["build", "--release", "--target", &target, "-p", "profiler"])
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
            let tests = cargo(&test);
            // The kernel matrix runs whatever the tests here said, and only for the whole run.
            let matrix = if args.is_empty() {
                setup::cross()
                    .and_then(|()| setup::vm())
                    .and_then(|()| vm::run(&vm::VmArgs::default()))
            } else {
                Ok(())
            };
            tests.and(matrix)
        }
        Task::VmTest(args) => {
            setup::run()?;
            setup::cross()?;
            setup::vm()?;
            cargo(&["build"])?;
            vm::run(&args)
        }
        Task::Bench(args) => {
            setup::run()?;
            cargo(&["build", "--release"])?;
            bench::run(args)
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
