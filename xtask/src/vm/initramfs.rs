//! The guest's initramfs: a static busybox, the kernel's own virtio and 9p modules (with their
//! dependencies, decompressed for busybox's insmod) and the init and test scripts, as a newc
//! cpio archive, which the kernel unpacks without any compression.
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::output;

/// What the guest needs to reach the shared directories: PCI (x86's `pc`, arm's `virt` has it
/// too) and MMIO transports, and 9p over virtio. Built-in ones are simply not found.
const MODULES: [&str; 4] = ["virtio_pci", "virtio_mmio", "9pnet_virtio", "9p"];

/// A newc cpio archive being written.
#[derive(Default)]
pub struct Cpio {
    data: Vec<u8>,
    inode: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, body: &[u8]) {
        self.inode += 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.inode,
            mode,
            0,
            0,
            1,
            0,
            body.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        self.data.extend_from_slice(header.as_bytes());
        self.data.extend_from_slice(name.as_bytes());
        self.data.push(0);
        self.pad();
        self.data.extend_from_slice(body);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
    }

    pub fn dir(&mut self, name: &str) {
        self.entry(name, 0o040_755, &[]);
    }

    pub fn file(&mut self, name: &str, body: &[u8], executable: bool) {
        let mode = if executable { 0o100_755 } else { 0o100_644 };
        self.entry(name, mode, body);
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120_777, target.as_bytes());
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.data
    }
}

/// Writes the initramfs for the kernel unpacked at `kernel_root` to `out`.
pub fn build(
    kernel_root: &Path,
    busybox: &Path,
    scripts: &[(&str, &Path)],
    out: &Path,
) -> Result<()> {
    let mut cpio = Cpio::default();
    for dir in [
        "bin", "dev", "proc", "sys", "tmp", "host", "out", "modules", "etc", "root",
    ] {
        cpio.dir(dir);
    }
    let read = |path: &Path| fs::read(path).with_context(|| format!("reading {}", path.display()));
    cpio.file("bin/busybox", &read(busybox)?, true);
    cpio.symlink("bin/sh", "busybox");
    for (name, path) in scripts {
        cpio.file(name, &read(path)?, true);
    }
    let mut order = String::new();
    for module in modules(kernel_root)? {
        let name = module
            .file_name()
            .and_then(|n| n.to_str())
            .context("module path without a name")?;
        let plain = name
            .trim_end_matches(".xz")
            .trim_end_matches(".zst")
            .trim_end_matches(".gz")
            .to_owned();
        cpio.file(&format!("modules/{plain}"), &decompress(&module)?, false);
        order.push_str(&plain);
        order.push('\n');
    }
    cpio.file("modules/order", order.as_bytes(), false);
    fs::write(out, cpio.finish()).with_context(|| format!("writing {}", out.display()))
}

/// The `lib/modules/<version>` directory of an unpacked kernel package (7.x packages have only
/// `usr/lib`, which the unpacking links `lib` to).
pub fn modules_dir(kernel_root: &Path) -> Result<PathBuf> {
    let dir = kernel_root.join("lib/modules");
    let version = fs::read_dir(&dir)
        .ok()
        .and_then(|mut entries| entries.next())
        .and_then(|entry| entry.ok())
        .with_context(|| format!("no lib/modules/<version> in {}", kernel_root.display()))?;
    Ok(version.path())
}

/// The wanted modules and their dependencies, in load order, from the kernel's `modules.dep`
/// (made with `depmod -b` first: the package does not ship it).
fn modules(kernel_root: &Path) -> Result<Vec<PathBuf>> {
    let dir = modules_dir(kernel_root)?;
    let dep = dir.join("modules.dep");
    if !dep.exists() {
        let version = dir
            .file_name()
            .and_then(|n| n.to_str())
            .context("module directory without a version")?;
        output(
            Command::new("depmod")
                .arg("-b")
                .arg(kernel_root)
                .arg(version),
        )
        .context("depmod for the guest kernel (Debian package kmod)")?;
    }
    let text = fs::read_to_string(&dep).with_context(|| format!("reading {}", dep.display()))?;
    let deps = parse_modules_dep(&text);
    let mut order = Vec::new();
    for wanted in MODULES {
        if let Some(path) = deps.keys().find(|path| module_name(path) == wanted) {
            visit(path, &deps, &mut order);
        }
    }
    Ok(order.into_iter().map(|path| dir.join(path)).collect())
}

fn parse_modules_dep(text: &str) -> BTreeMap<String, Vec<String>> {
    text.lines()
        .filter_map(|line| {
            let (module, deps) = line.split_once(':')?;
            Some((
                module.trim().to_owned(),
                deps.split_whitespace().map(str::to_owned).collect(),
            ))
        })
        .collect()
}

/// `kernel/net/9p/9pnet_virtio.ko.xz` → `9pnet_virtio` (modules.dep names files; modprobe
/// treats `-` and `_` alike).
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file).replace('-', "_")
}

/// Dependencies first, each module once.
fn visit(module: &str, deps: &BTreeMap<String, Vec<String>>, order: &mut Vec<String>) {
    if order.iter().any(|m| m == module) {
        return;
    }
    for dep in deps.get(module).into_iter().flatten() {
        visit(dep, deps, order);
    }
    order.push(module.to_owned());
}

fn decompress(path: &Path) -> Result<Vec<u8>> {
    let tool = match path.extension().and_then(|e| e.to_str()) {
        Some("xz") => Some(("xz", "-dc")),
        Some("zst") => Some(("zstd", "-qdc")),
        Some("gz") => Some(("gzip", "-dc")),
        _ => None,
    };
    match tool {
        None => fs::read(path).with_context(|| format!("reading {}", path.display())),
        Some((program, flag)) => {
            let out = Command::new(program)
                .arg(flag)
                .arg(path)
                .output()
                .with_context(|| format!("running {program}"))?;
            if !out.status.success() {
                bail!("{program} {flag} {} failed", path.display());
            }
            Ok(out.stdout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_load_first_and_once() {
        let deps = parse_modules_dep(
            "kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz\n\
             kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/drivers/virtio/virtio_ring.ko\n\
             kernel/net/9p/9pnet.ko.xz:\n\
             kernel/fs/netfs/netfs.ko.xz:\n\
             kernel/drivers/virtio/virtio_ring.ko:\n",
        );
        let mut order = Vec::new();
        for wanted in ["9pnet_virtio", "9p"] {
            let path = deps.keys().find(|p| module_name(p) == wanted).unwrap();
            visit(path, &deps, &mut order);
        }
        assert_eq!(
            order,
            [
                "kernel/net/9p/9pnet.ko.xz",
                "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/net/9p/9pnet_virtio.ko.xz",
                "kernel/fs/netfs/netfs.ko.xz",
                "kernel/fs/9p/9p.ko.xz",
            ]
        );
    }

    #[test]
    fn newc_entries_are_aligned_and_end_with_the_trailer() {
        let mut cpio = Cpio::default();
        cpio.dir("bin");
        cpio.file("bin/x", b"abc", true);
        let data = cpio.finish();
        assert!(data.starts_with(b"070701"));
        assert_eq!(data.len() % 4, 0);
        let text = String::from_utf8_lossy(&data);
        assert!(text.contains("bin/x\0"));
        assert!(text.contains("TRAILER!!!\0"));
        // The file's header: mode 100755, size 3.
        let at = text.find("bin/x").unwrap() - 110;
        assert_eq!(&text[at + 14..at + 22], "000081ed");
        assert_eq!(&text[at + 54..at + 62], "00000003");
    }
}
