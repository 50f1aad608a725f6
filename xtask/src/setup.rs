//! `cargo xtask setup`: make a fresh machine able to build and test, and cost next to nothing
//! when it already can.
use std::{env, path::PathBuf, process::Command};

use anyhow::{bail, Context as _, Result};

use crate::{
    debian::{Mirror, PrivateApt},
    output,
};

/// The bpf-linker release known to build against the eBPF toolchain's LLVM here.
const BPF_LINKER_VERSION: &str = "0.13.0";
/// cargo-fuzz, which builds and runs the fuzz targets of fuzz/ with nightly.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// Debian packages the tests and the benchmark use.
const PACKAGES: [&str; 16] = [
    "strace",
    "python3-seccomp",
    "runc",
    "crun",
    "busybox-static",
    "bpftrace",
    // /usr/share/containers/seccomp.json, podman's default profile, for the compiler tests.
    "golang-github-containers-common",
    // The runtimes the container tests start themselves: podman runs `profile hook`, and
    // containerd (ctr) has no hooks (`record --wait-for-container`).
    "podman",
    "containerd",
    // systemd-analyze, whose syscall groups profiler/data/systemd-syscall-groups.txt copies.
    "systemd",
    // The real workloads of tests/tests/real.rs; each test starts its own instance.
    "nginx-light",
    "redis-server",
    "postgresql-15",
    "golang-go",
    "libpython3.11-testsuite",
    "curl",
];

/// Debian's convention for "do not start services from package scripts": installing nginx,
/// redis or PostgreSQL must not leave a daemon running on the machine.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";
/// What `cargo xtask build --target aarch64-unknown-linux-gnu` links with.
const CROSS_PACKAGES: [&str; 2] = ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"];
/// What `cargo xtask vm-test` builds its initramfs with (depmod, the kernels' compressed
/// modules).
const VM_PACKAGES: [&str; 3] = ["kmod", "xz-utils", "zstd"];
/// qemu, from the release's backports when it has them: the machine image carries backports'
/// qemu-utils, which the release's own qemu would replace.
const QEMU_PACKAGES: [&str; 2] = ["qemu-system-x86", "qemu-system-arm"];
/// The Rust target of the arm64 build.
pub const ARM64_TARGET: &str = "aarch64-unknown-linux-gnu";

pub fn run() -> Result<()> {
    let toolchain = ebpf_toolchain()?;
    ebpf_rust(&toolchain)?;
    bpf_linker(&toolchain)?;
    cargo_fuzz()?;
    debian_packages()?;
    python_packages()
}

/// What the arm64 cross build needs besides [`run`]'s.
pub fn cross() -> Result<()> {
    rust_target(ARM64_TARGET)?;
    install_missing(&CROSS_PACKAGES)
}

/// What the kernel matrix needs besides [`run`]'s and [`cross`]'s.
pub fn vm() -> Result<()> {
    install_missing(&VM_PACKAGES)?;
    qemu()
}

fn install_missing(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|pkg| !dpkg_installed(pkg))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing)
}

fn rust_target(target: &str) -> Result<()> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if installed.lines().any(|line| line.trim() == target) {
        return Ok(());
    }
    eprintln!("setup: adding the Rust target {target}");
    run_checked(Command::new("rustup").args(["target", "add", target]))
}

fn qemu() -> Result<()> {
    let missing: Vec<&str> = QEMU_PACKAGES
        .iter()
        .copied()
        .filter(|pkg| !dpkg_installed(pkg))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mirror = Mirror::from_system()?;
    let backports = format!("{}-backports", mirror.codename);
    let mut sources = String::new();
    for suite in [
        mirror.codename.clone(),
        format!("{}-updates", mirror.codename),
        format!("{}-security", mirror.codename),
        backports.clone(),
    ] {
        sources.push_str(&mirror.line(&suite, &["amd64"]));
    }
    let dir = env::temp_dir().join("profile-setup-apt");
    let apt = PrivateApt::new(&dir, &sources, &["amd64"])?;
    eprintln!("setup: installing {} from {backports}", missing.join(" "));
    apt.update()?;
    run_checked(
        apt.command("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "-t",
                &backports,
            ])
            .args(&missing),
    )
}

/// kubernetes-validate carries the Kubernetes OpenAPI schemas (1.25 to 1.37) for offline Pod
/// validation, and brings jsonschema and PyYAML, with which the tests also check SeccompProfile
/// resources against the SPO CRD. Installed into the python3 first on PATH (pyenv's here, which
/// has pip; Debian's refuses pip installs), not with --user: that folder is shared with Debian's
/// python3 of the same minor version and would shadow its packages.
const KUBERNETES_VALIDATE: &str = "1.37.0";

fn python_packages() -> Result<()> {
    let check = format!(
        "import importlib.metadata, jsonschema, yaml, kubernetes_validate; \
         assert importlib.metadata.version('kubernetes-validate') == '{KUBERNETES_VALIDATE}'"
    );
    if output(Command::new("python3").args(["-c", &check])).is_ok() {
        return Ok(());
    }
    eprintln!("setup: installing kubernetes-validate {KUBERNETES_VALIDATE} (PyPI) for python3");
    run_checked(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(format!("kubernetes-validate=={KUBERNETES_VALIDATE}"))
            .env("PIP_ROOT_USER_ACTION", "ignore"),
    )
}

/// The eBPF programs' toolchain: the `channel` of profiler-ebpf/rust-toolchain.toml (which
/// profiler/build.rs reads too).
pub fn ebpf_toolchain() -> Result<String> {
    let path = crate::workspace_root().join("profiler-ebpf/rust-toolchain.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("channel"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .map(|value| value.trim().trim_matches('"').to_owned())
        .next()
        .with_context(|| format!("{} names no channel", path.display()))
}

/// The eBPF toolchain with rust-src (the programs build core from source).
fn ebpf_rust(toolchain: &str) -> Result<()> {
    let installed = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        toolchain,
    ]));
    if installed.is_ok_and(|list| list.lines().any(|line| line.starts_with("rust-src"))) {
        return Ok(());
    }
    eprintln!("setup: installing the eBPF toolchain {toolchain} with rust-src");
    run_checked(Command::new("rustup").args([
        "toolchain",
        "install",
        toolchain,
        "--profile",
        "minimal",
        "--component",
        "rust-src",
    ]))
}

fn cargo_home() -> Result<PathBuf> {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")
}

/// Where the bpf-linker built against `toolchain`'s LLVM is installed: one per toolchain, so
/// moving the toolchain never breaks the builds of a checkout that has not moved yet
/// (profiler/build.rs looks there).
fn bpf_linker_root(toolchain: &str) -> Result<PathBuf> {
    Ok(cargo_home()?.join("bpf-linker").join(toolchain))
}

/// bpf-linker must be built against the very LLVM that the eBPF toolchain's rustc emits bitcode
/// for, so it links that toolchain's own libLLVM, found through an rpath (it then starts outside
/// `rustup run`).
fn bpf_linker(toolchain: &str) -> Result<()> {
    let root = bpf_linker_root(toolchain)?;
    let linker = root.join("bin").join("bpf-linker");
    if let Ok(version) = output(Command::new(&linker).arg("--version")) {
        if version.contains(BPF_LINKER_VERSION) {
            return Ok(());
        }
    }
    let rustc = |args: &[&str]| {
        output(
            Command::new("rustup")
                .args(["run", toolchain, "rustc"])
                .args(args),
        )
    };
    let sysroot = PathBuf::from(rustc(&["--print", "sysroot"])?.trim());
    let version = rustc(&["-vV"])?;
    let llvm_major = version
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .with_context(|| format!("`rustc -vV` of {toolchain} prints no LLVM version"))?
        .to_owned();
    let lib_dir = sysroot.join("lib");
    let libllvm = std::fs::read_dir(&lib_dir)
        .with_context(|| format!("reading {}", lib_dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libLLVM.so.") && n.contains("-rust-"))
        })
        .with_context(|| format!("no libLLVM.so.*-rust-* in {}", lib_dir.display()))?;

    // LLVM_PREFIX must hold lib/libLLVM.so; the toolchain ships only the versioned name.
    let prefix = env::temp_dir().join(format!("profile-llvm-prefix-{toolchain}"));
    let link = prefix.join("lib").join("libLLVM.so");
    std::fs::create_dir_all(link.parent().expect("has a parent"))?;
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&libllvm, &link)
        .with_context(|| format!("linking {}", link.display()))?;

    eprintln!(
        "setup: building bpf-linker {BPF_LINKER_VERSION} against {} (about a minute)",
        libllvm.display()
    );
    run_checked(
        Command::new("cargo")
            .args([
                "install",
                "--locked",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--force",
                "--root",
            ])
            .arg(&root)
            .args([
                "--no-default-features",
                "--features",
                &format!("llvm-{llvm_major}"),
            ])
            .env("LLVM_PREFIX", &prefix)
            .env(
                "RUSTFLAGS",
                format!("-C link-arg=-Wl,-rpath,{}", lib_dir.display()),
            ),
    )?;
    output(Command::new(&linker).arg("--version"))
        .context("the freshly built bpf-linker does not start")?;
    Ok(())
}

fn cargo_fuzz() -> Result<()> {
    if output(Command::new("cargo").args(["fuzz", "--version"]))
        .is_ok_and(|version| version.contains(CARGO_FUZZ_VERSION))
    {
        return Ok(());
    }
    eprintln!("setup: installing cargo-fuzz {CARGO_FUZZ_VERSION}");
    run_checked(Command::new("cargo").args([
        "install",
        "--locked",
        "cargo-fuzz",
        "--version",
        CARGO_FUZZ_VERSION,
    ]))
}

fn debian_packages() -> Result<()> {
    install_missing(&PACKAGES)
}

fn apt_install(packages: &[&str]) -> Result<()> {
    eprintln!("setup: installing {}", packages.join(" "));
    run_checked(Command::new("apt-get").arg("update").arg("-qq"))?;
    let policy = std::path::Path::new(POLICY_RC_D);
    let own_policy = !policy.exists();
    if own_policy {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(policy, "#!/bin/sh\nexit 101\n")
            .with_context(|| format!("writing {POLICY_RC_D}"))?;
        std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755))?;
    }
    let installed = run_checked(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
    if own_policy {
        let _ = std::fs::remove_file(policy);
    }
    installed
}

fn dpkg_installed(package: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_ok_and(|status| status.contains("install ok installed"))
}

pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}
