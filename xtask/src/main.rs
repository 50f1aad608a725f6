//! Project tasks: `cargo xtask setup|build|run|test|vm-test|bench|fuzz|image|man|syscall-groups`.
mod bench;
mod debian;
mod fuzz;
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
    /// Set up, build, and run every test (rustfmt's and clippy's checks, unit tests, the
    /// end-to-end tests, which need root, and the fuzz targets for a fixed number of runs).
    Test {
        /// Passed to `cargo test` (e.g. a test name filter); with any, the lints and the fuzz
        /// targets are not run.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Boot Debian's kernels (5.10, 6.1, 6.12, 7.x; arm64 6.1) in qemu and run the end-to-end
    /// subset in each; checks docs/platforms.md against the run.
    VmTest(vm::VmArgs),
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
    /// Build the daemon's container image from deploy/Containerfile with podman, offline: a
    /// static release binary FROM scratch, tagged localhost/profile:VERSION.
    Image,
    /// Regenerate the man pages in docs/man from the CLI definitions (--check: only compare).
    Man {
        #[arg(long)]
        check: bool,
    },
    /// Rewrite profiler/data/systemd-syscall-groups.txt from this machine's systemd-analyze.
    SyscallGroups,
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
            // tests run the `profile` binary, so build it first, and the static one the image
            // test puts in a container.
            cargo(&["build"])?;
            static_profile(false)?;
            // The whole run also checks the layout (rustfmt) and clippy's warnings, as errors;
            // after the build, so clippy reuses its eBPF object. Like the tests, they report
            // and the run goes on.
            let lints = if args.is_empty() { lint() } else { Ok(()) };
            // Every test target runs even when one fails, so a run shows all failures.
            let mut test = vec!["test", "--no-fail-fast"];
            test.extend(args.iter().map(String::as_str));
            let tests = cargo(&test);
            // The fuzz targets and the kernel matrix run whatever the tests here said, and only
            // for the whole run.
            let rest = if args.is_empty() {
                fuzz::run(fuzz::TEST_RUNS, None)
                    .and_then(|()| setup::cross())
                    .and_then(|()| setup::vm())
                    .and_then(|()| vm::run(&vm::VmArgs::default()))
            } else {
                Ok(())
            };
            lints.and(tests).and(rest)
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
        Task::Fuzz { target, runs } => {
            setup::run()?;
            fuzz::run(runs, target.as_deref())
        }
        Task::Man { check } => man::run(check),
        Task::SyscallGroups => syscall_groups(),
        Task::Image => {
            setup::run()?;
            let binary = static_profile(true)?;
            let context = workspace_root().join("target/image");
            std::fs::create_dir_all(&context)?;
            std::fs::copy(&binary, context.join("profile"))
                .with_context(|| format!("copying {}", binary.display()))?;
            let tag = format!("localhost/profile:{}", env!("CARGO_PKG_VERSION"));
            let status = Command::new("podman")
                .args(["build", "--pull=never", "-t", &tag, "-f"])
                .arg(workspace_root().join("deploy/Containerfile"))
                .arg(&context)
                .status()
                .context("running podman build")?;
            if !status.success() {
                bail!("podman build failed ({status})");
            }
            println!("built {tag}");
            Ok(())
        }
    }
}

/// The host triple, given explicitly so that crt-static reaches only our binary (with no
/// --target, RUSTFLAGS would also reach the proc-macro libraries, which must stay dynamic).
const HOST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Builds `profile` linked statically (it runs in an image with nothing else); returns it.
fn static_profile(release: bool) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "-p",
        "profiler",
        "--bin",
        "profile",
        "--target",
        HOST_TARGET,
    ])
    .env(
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
        "-C target-feature=+crt-static",
    )
    .current_dir(workspace_root());
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build (static)")?;
    if !status.success() {
        bail!("the static build failed ({status})");
    }
    let profile = if release { "release" } else { "debug" };
    Ok(workspace_root().join(format!("target/{HOST_TARGET}/{profile}/profile")))
}

/// systemd-analyze's group listing with a header naming the systemd that printed it, cut before
/// the lists of ungrouped and unlisted calls (those depend on the running kernel).
fn syscall_groups() -> Result<()> {
    let version = output(Command::new("systemd-analyze").arg("--version"))?;
    let version = version.lines().next().unwrap_or_default().trim().to_owned();
    let listing = output(Command::new("systemd-analyze").args(["syscall-filter", "--no-pager"]))?;
    let groups: String = listing
        .lines()
        .take_while(|line| !line.starts_with("# Ungrouped"))
        .map(|line| format!("{line}\n"))
        .collect();
    let text = format!(
        "# systemd's system call groups, as `systemd-analyze syscall-filter` of {version}\n\
         # prints them, cut before its lists of ungrouped and unlisted calls (those depend on the\n\
         # running kernel). profile uses the groups' names and members as they are: hints in\n\
         # reports and --allow-group. tests/tests/groups.rs compares this file with the machine's\n\
         # systemd-analyze; `cargo xtask syscall-groups` regenerates it.\n\n{groups}"
    );
    let path = workspace_root().join("profiler/data/systemd-syscall-groups.txt");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {} ({version})", path.display());
    Ok(())
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_owned()
}

/// Runs cargo (the stable toolchain, as invoked) in the workspace root.
/// rustfmt's check and clippy over every package of the workspace but the eBPF one (which
/// only builds for its BPF target; profiler's build script builds it).
fn lint() -> Result<()> {
    let format = cargo(&["fmt", "--all", "--check"]);
    let clippy = cargo(&["clippy", "--all-targets", "--", "-D", "warnings"]);
    format.and(clippy)
}

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
