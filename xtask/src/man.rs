//! `cargo xtask man [--check]`: the man pages in docs/man, generated from the clap definitions
//! by the hidden `profile man DIR` (the definitions live in the binary crate, which xtask cannot
//! link). The binary is built without the eBPF object (AYA_BUILD_SKIP=1: no nightly needed) in
//! its own target directory, so the main build keeps its object and is not rebuilt.
use std::{fs, path::Path, process::Command};

use anyhow::{bail, Context as _, Result};

use crate::workspace_root;

pub fn run(check: bool) -> Result<()> {
    let root = workspace_root();
    let docs = root.join("docs/man");
    let fresh = root.join("target/man/pages");
    let _ = fs::remove_dir_all(&fresh);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "run", "--quiet", "-p", "profiler", "--bin", "profile", "--", "man",
        ])
        .arg(&fresh)
        .env("AYA_BUILD_SKIP", "1")
        .env("CARGO_TARGET_DIR", root.join("target/man"))
        .current_dir(&root)
        .status()
        .context("running profile man")?;
    if !status.success() {
        bail!("profile man failed ({status})");
    }
    let stale = differences(&fresh, &docs)?;
    if check {
        if !stale.is_empty() {
            bail!(
                "docs/man is out of date ({}); run `cargo xtask man`",
                stale.join(", ")
            );
        }
        println!("docs/man is current");
        return Ok(());
    }
    fs::create_dir_all(&docs).context("creating docs/man")?;
    for entry in fs::read_dir(&docs).context("reading docs/man")? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "1") {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    for entry in fs::read_dir(&fresh)? {
        let path = entry?.path();
        let name = path.file_name().expect("a file name");
        fs::copy(&path, docs.join(name)).with_context(|| format!("copying {}", path.display()))?;
    }
    println!(
        "docs/man: {} pages ({} changed)",
        fs::read_dir(&fresh)?.count(),
        stale.len()
    );
    Ok(())
}

/// Names of the `.1` pages that differ between the two directories, or exist in only one.
fn differences(fresh: &Path, docs: &Path) -> Result<Vec<String>> {
    let pages = |dir: &Path| -> Result<Vec<String>> {
        let mut names = Vec::new();
        if dir.is_dir() {
            for entry in fs::read_dir(dir)? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if name.ends_with(".1") {
                    names.push(name);
                }
            }
        }
        Ok(names)
    };
    let mut names = pages(fresh)?;
    names.extend(pages(docs)?);
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .filter(|name| fs::read(fresh.join(name)).ok() != fs::read(docs.join(name)).ok())
        .collect())
}
