//! The guests' kernels and the arm64 guest's root, from the Debian registry: a private apt state
//! below the work directory whose sources use this machine's own mirror, packages unpacked with
//! `dpkg-deb -x`. Nothing is installed, and `/boot` and `/etc/apt` are left alone.
use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};

use crate::debian::{unpack, version_lt, Mirror, PrivateApt};

/// The kernel architectures the matrix boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    X86_64,
    Arm64,
}

impl Machine {
    /// Debian's name for it.
    pub fn debian(self) -> &'static str {
        match self {
            Machine::X86_64 => "amd64",
            Machine::Arm64 => "arm64",
        }
    }
}

/// A guest of the matrix: which kernel, resolved from the registry's versions of the
/// `linux-image-<arch>` metapackage.
#[derive(Clone, Copy, Debug)]
pub struct Guest {
    /// The name the results and `--kernel` use.
    pub name: &'static str,
    pub machine: Machine,
    /// The metapackage version's prefix: `5.10.` picks the newest 5.10, `7.` the newest 7.x.
    pub series: &'static str,
}

pub const GUESTS: [Guest; 5] = [
    Guest {
        name: "5.10",
        machine: Machine::X86_64,
        series: "5.10.",
    },
    Guest {
        name: "6.1",
        machine: Machine::X86_64,
        series: "6.1.",
    },
    Guest {
        name: "6.12",
        machine: Machine::X86_64,
        series: "6.12.",
    },
    Guest {
        name: "7.x",
        machine: Machine::X86_64,
        series: "7.",
    },
    Guest {
        name: "arm64-6.1",
        machine: Machine::Arm64,
        series: "6.1.",
    },
];

/// The suites the kernels come from (Debian 11's 5.10 is in its security suite only now; 7.x
/// in unstable and the stable release's backports), with the architectures each serves here:
/// bookworm also gives the arm64 guest its userland and an armhf program.
const SUITES: [(&str, &[&str]); 7] = [
    ("bullseye-security", &["amd64"]),
    ("bookworm", &["amd64", "arm64", "armhf"]),
    ("bookworm-security", &["amd64", "arm64", "armhf"]),
    ("trixie", &["amd64"]),
    ("trixie-security", &["amd64"]),
    ("trixie-backports", &["amd64"]),
    ("sid", &["amd64"]),
];

/// Packages of the arm64 guest's root: a shell, the C library our binaries link, strace as the
/// ground truth, and a 32-bit arm busybox for the AArch32 check.
const ARM64_ROOT: [&str; 5] = [
    "busybox-static:arm64",
    "libc6:arm64",
    "libgcc-s1:arm64",
    "strace:arm64",
    "busybox-static:armhf",
];

/// busybox applets `init.sh` and `guest-test.sh` run in the arm64 root.
const APPLETS: [&str; 14] = [
    "sh", "mount", "umount", "mkdir", "rmdir", "cat", "grep", "sleep", "env", "kill", "uname",
    "echo", "true", "date",
];

/// The registry, through a private apt state in `work`.
pub struct Registry {
    apt: PrivateApt,
    debs: PathBuf,
}

impl Registry {
    pub fn open(work: &Path) -> Result<Registry> {
        let mirror = Mirror::from_system()?;
        let sources: String = SUITES
            .iter()
            .map(|(suite, arches)| mirror.line(suite, arches))
            .collect();
        let apt = PrivateApt::new(&work.join("apt"), &sources, &["amd64", "arm64", "armhf"])?;
        apt.update()?;
        Ok(Registry {
            apt,
            debs: work.join("debs"),
        })
    }

    /// The newest kernel of `guest`'s series: the packages to unpack and its version.
    fn kernel_packages(&self, guest: &Guest) -> Result<(Vec<String>, String)> {
        let arch = guest.machine.debian();
        let meta = format!("linux-image-{arch}:{arch}");
        let mut newest: Option<String> = None;
        for (version, _suite) in self.apt.versions(&meta)? {
            // Release candidates (`7.3~rc7`) are not kernels users run.
            if version.starts_with(guest.series)
                && !version.contains("~rc")
                && newest.as_ref().is_none_or(|n| version_lt(n, &version))
            {
                newest = Some(version);
            }
        }
        let version =
            newest.with_context(|| format!("the registry has no {meta} {}x", guest.series))?;
        // linux-image-<arch> → linux-image-<abi>-<arch> → (7.x) linux-binary-… + linux-modules-…
        let image = self
            .apt
            .depends(&meta, &version)?
            .into_iter()
            .find(|dep| dep.starts_with("linux-image-"))
            .with_context(|| format!("{meta} {version} depends on no linux-image package"))?;
        let mut packages = vec![format!("{image}:{arch}={version}")];
        for dep in self.apt.depends(&format!("{image}:{arch}"), &version)? {
            if dep.starts_with("linux-binary-") || dep.starts_with("linux-modules-") {
                packages.push(format!("{dep}:{arch}={version}"));
            }
        }
        Ok((packages, version))
    }

    /// Downloads and unpacks `guest`'s kernel below `work`; returns where, and the version.
    pub fn kernel(&self, guest: &Guest, work: &Path) -> Result<Kernel> {
        let (packages, version) = self.kernel_packages(guest)?;
        let root = work
            .join("kernels")
            .join(format!("{}-{version}", guest.machine.debian()));
        if !root.join(".unpacked").exists() {
            let _ = fs::remove_dir_all(&root);
            for package in &packages {
                unpack(&self.apt.download(package, &self.debs)?, &root)?;
            }
            // depmod -b and the modules' own paths want lib/modules.
            if !root.join("lib").exists() {
                symlink("usr/lib", root.join("lib"))?;
            }
            fs::write(root.join(".unpacked"), &version)?;
        }
        let image = find_image(&root)?;
        Ok(Kernel {
            root,
            image,
            version,
        })
    }

    /// The arm64 guest's root, with `binaries` (name, path) put into /usr/local/bin.
    pub fn arm64_root(&self, work: &Path, binaries: &[(&str, &Path)]) -> Result<PathBuf> {
        let root = work.join("arm64-root");
        if !root.join(".unpacked").exists() {
            let _ = fs::remove_dir_all(&root);
            for package in ARM64_ROOT {
                let deb = self
                    .apt
                    .download(&format!("{package}/bookworm"), &self.debs)?;
                if package.ends_with(":armhf") {
                    // Only its binary, beside the arm64 busybox.
                    let tmp = work.join("armhf");
                    unpack(&deb, &tmp)?;
                    fs::create_dir_all(root.join("usr/local/bin"))?;
                    fs::copy(
                        tmp.join("bin/busybox"),
                        root.join("usr/local/bin/busybox-armhf"),
                    )?;
                    let _ = fs::remove_dir_all(&tmp);
                } else {
                    unpack(&deb, &root)?;
                }
            }
            for dir in ["proc", "sys", "dev", "tmp", "run", "root", "etc"] {
                fs::create_dir_all(root.join(dir))?;
            }
            fs::write(root.join(".unpacked"), "")?;
        }
        // The shell and the applets the scripts use, on PATH.
        for (link, target) in APPLETS
            .iter()
            .map(|applet| (format!("usr/local/bin/{applet}"), "/bin/busybox"))
            .chain([("bin/sh".to_owned(), "busybox")])
        {
            let link = root.join(link);
            let _ = fs::remove_file(&link);
            symlink(target, &link)?;
        }
        for (name, path) in binaries {
            let dest = root.join("usr/local/bin").join(name);
            fs::copy(path, &dest)
                .with_context(|| format!("copying {} into the arm64 root", path.display()))?;
        }
        Ok(root)
    }
}

/// An unpacked kernel.
pub struct Kernel {
    pub root: PathBuf,
    pub image: PathBuf,
    pub version: String,
}

/// `boot/vmlinuz-*`, or since 7.x `usr/lib/modules/<version>/vmlinuz`.
fn find_image(root: &Path) -> Result<PathBuf> {
    if let Ok(entries) = fs::read_dir(root.join("boot")) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("vmlinuz-") {
                return Ok(entry.path());
            }
        }
    }
    if let Ok(entries) = fs::read_dir(root.join("usr/lib/modules")) {
        for entry in entries.flatten() {
            let image = entry.path().join("vmlinuz");
            if image.exists() {
                return Ok(image);
            }
        }
    }
    bail!("no kernel image in {}", root.display())
}
