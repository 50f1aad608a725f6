//! Builds the eBPF object with the toolchain of `profiler-ebpf/rust-toolchain.toml` (via
//! aya-build) and hands its path to the crate as `OUT_DIR/profiler`. `AYA_BUILD_SKIP=1` skips it
//! (for clippy and docs), leaving an empty object that the binary refuses to load with a clear
//! message.
use std::{env, fs, path::PathBuf};

use anyhow::{Context as _, Result};

const EBPF_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../profiler-ebpf");

fn main() -> Result<()> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?);
    let object = out_dir.join("profiler");
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    if matches!(env::var("AYA_BUILD_SKIP").as_deref(), Ok("1" | "true")) {
        fs::write(&object, b"").context("writing the placeholder eBPF object")?;
        return Ok(());
    }
    let toolchain = ebpf_toolchain()?;
    // Point the bpfel target at the bpf-linker `cargo xtask setup` built for that toolchain's
    // LLVM (one built for another LLVM fails on its bitcode), so PATH does not matter; the nested
    // cargo that aya-build runs inherits this.
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER");
    if env::var_os("CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER").is_none() {
        let linker = bpf_linker(&toolchain)?;
        anyhow::ensure!(
            linker.is_file(),
            "no bpf-linker for {toolchain} at {}: run `cargo xtask setup`",
            linker.display()
        );
        // SAFETY: build scripts are single-threaded.
        unsafe { env::set_var("CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER", linker) };
    }
    let ebpf = aya_build::Package {
        name: "profiler-ebpf",
        root_dir: EBPF_DIR,
        ..Default::default()
    };
    aya_build::build_ebpf([ebpf], aya_build::Toolchain::Custom(&toolchain))
        .context("building the eBPF programs failed; `cargo xtask setup` installs what they need")
}

/// The `channel` of profiler-ebpf/rust-toolchain.toml.
fn ebpf_toolchain() -> Result<String> {
    let path = format!("{EBPF_DIR}/rust-toolchain.toml");
    println!("cargo:rerun-if-changed={path}");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("channel"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .map(|value| value.trim().trim_matches('"').to_owned())
        .next()
        .with_context(|| format!("{path} names no channel"))
}

/// Where `cargo xtask setup` installs the bpf-linker built against `toolchain`'s LLVM
/// (xtask/src/setup.rs, `bpf_linker_root`).
fn bpf_linker(toolchain: &str) -> Result<PathBuf> {
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    Ok(cargo_home
        .join("bpf-linker")
        .join(toolchain)
        .join("bin/bpf-linker"))
}
