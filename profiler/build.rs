//! Builds the eBPF object with the nightly toolchain (via aya-build) and hands its path to the
//! crate as `OUT_DIR/profiler`. `AYA_BUILD_SKIP=1` skips it (for clippy and docs), leaving an
//! empty object that the binary refuses to load with a clear message.
use std::{env, fs, path::PathBuf};

use anyhow::{Context as _, Result};

fn main() -> Result<()> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?);
    let object = out_dir.join("profiler");
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    if matches!(env::var("AYA_BUILD_SKIP").as_deref(), Ok("1" | "true")) {
        fs::write(&object, b"").context("writing the placeholder eBPF object")?;
        return Ok(());
    }
    // Point the bpfel target at the bpf-linker `cargo xtask setup` installs, so PATH does not
    // matter; the nested cargo that aya-build runs inherits this.
    if env::var_os("CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER").is_none() {
        if let Some(linker) = installed_bpf_linker() {
            // SAFETY: build scripts are single-threaded.
            unsafe { env::set_var("CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER", linker) };
        }
    }
    let root_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../profiler-ebpf");
    let ebpf = aya_build::Package {
        name: "profiler-ebpf",
        root_dir,
        ..Default::default()
    };
    aya_build::build_ebpf([ebpf], aya_build::Toolchain::default())
        .context("building the eBPF programs failed; `cargo xtask setup` installs what they need")
}

fn installed_bpf_linker() -> Option<PathBuf> {
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))?;
    let linker = cargo_home.join("bin").join("bpf-linker");
    linker.is_file().then_some(linker)
}
