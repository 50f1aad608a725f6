//! The fuzz targets of `fuzz/` (cargo-fuzz, with the eBPF programs' nightly): each parser of
//! untrusted input run a fixed number of times, starting from the corpus kept in
//! `fuzz/corpus/<target>`, with debug assertions and overflow checks on, so that a panic a debug
//! build would hit fails the run.
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use crate::workspace_root;

/// The targets, one per parser: profiles (every dialect), audit lines (every source), durations.
pub const TARGETS: [&str; 3] = ["profile", "audit_line", "duration"];
/// Runs per target in `cargo xtask test`: seconds each, after a build of a few minutes.
pub const TEST_RUNS: u64 = 2_000_000;

/// Builds the targets and runs each `runs` times (or only `only`).
pub fn run(runs: u64, only: Option<&str>) -> Result<()> {
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    let targets: Vec<&str> = match only {
        Some(name) if TARGETS.contains(&name) => vec![name],
        Some(name) => bail!("no fuzz target {name} (there are {})", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    // cargo-fuzz needs nightly; the eBPF programs' one is the nightly this checkout knows works.
    let nightly = format!("+{}", crate::setup::ebpf_toolchain()?);
    for target in targets {
        // New inputs go to a scratch corpus; the one in the repository is only read.
        let scratch = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        eprintln!("fuzz: {target}, {runs} runs");
        let status = Command::new("cargo")
            .arg(&nightly)
            .args(["fuzz", "run", "--sanitizer", "none", "--debug-assertions"])
            .arg(target)
            .arg(&scratch)
            .arg(fuzz_dir.join("corpus").join(target))
            .args(["--", &format!("-runs={runs}"), "-print_final_stats=1"])
            // The parsers need no eBPF object.
            .env("AYA_BUILD_SKIP", "1")
            .current_dir(&fuzz_dir)
            .status()
            .context("running cargo fuzz (`cargo xtask setup` installs it)")?;
        if !status.success() {
            bail!(
                "fuzz target {target} failed ({status}): the input is in fuzz/artifacts/{target}/"
            );
        }
    }
    Ok(())
}
