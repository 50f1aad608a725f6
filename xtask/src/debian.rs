//! The Debian registry as this machine's apt is configured to reach it, and apt runs with a
//! private state (lists, cache, sources) that leave `/etc/apt` and the system's lists alone.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result};

use crate::output;

/// The archive URIs this machine's apt uses: the main archive and the security one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub archive: String,
    pub security: String,
    /// The release the machine runs (`bookworm`).
    pub codename: String,
}

/// One `deb` source: URI and suites.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Source {
    uri: String,
    suites: Vec<String>,
}

impl Mirror {
    /// From `/etc/apt/sources.list.d/*.sources` (deb822) and `/etc/apt/sources.list`.
    pub fn from_system() -> Result<Mirror> {
        let mut sources = Vec::new();
        if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
            sources.extend(one_line_sources(&text));
        }
        if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                let text = fs::read_to_string(&path).unwrap_or_default();
                match path.extension().and_then(|e| e.to_str()) {
                    Some("sources") => sources.extend(deb822_sources(&text)),
                    Some("list") => sources.extend(one_line_sources(&text)),
                    _ => {}
                }
            }
        }
        Mirror::from_sources(&sources)
            .context("this machine's apt configuration names no Debian archive")
    }

    fn from_sources(sources: &[Source]) -> Option<Mirror> {
        // The release: the suite without a `-` suffix (bookworm, not bookworm-updates).
        let (archive, codename) = sources.iter().find_map(|source| {
            let suite = source.suites.iter().find(|s| !s.contains('-'))?;
            Some((source.uri.clone(), suite.clone()))
        })?;
        let security = sources
            .iter()
            .find(|source| source.suites.iter().any(|s| s.ends_with("-security")))
            .map(|source| source.uri.clone())
            // deb.debian.org serves both: `<archive>-security` is the usual layout.
            .unwrap_or_else(|| format!("{archive}-security"));
        Some(Mirror {
            archive,
            security,
            codename,
        })
    }

    /// A `deb` line for `suite` of the main component, from the archive or the security one.
    pub fn line(&self, suite: &str, arches: &[&str]) -> String {
        let uri = if suite.ends_with("-security") {
            &self.security
        } else {
            &self.archive
        };
        format!("deb [arch={}] {uri} {suite} main\n", arches.join(","))
    }
}

fn deb822_sources(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let types = field("Types").unwrap_or_default();
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        if field("Enabled").is_some_and(|e| e.eq_ignore_ascii_case("no")) {
            continue;
        }
        let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
            continue;
        };
        let suites: Vec<String> = suites.split_whitespace().map(str::to_owned).collect();
        for uri in uris.split_whitespace() {
            out.push(Source {
                uri: uri.trim_end_matches('/').to_owned(),
                suites: suites.clone(),
            });
        }
    }
    out
}

fn one_line_sources(text: &str) -> Vec<Source> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?.trim();
            let rest = line.strip_prefix("deb ")?.trim();
            // Options in brackets come first.
            let rest = match rest.strip_prefix('[') {
                Some(options) => options.split_once(']')?.1.trim(),
                None => rest,
            };
            let mut words = rest.split_whitespace();
            let uri = words.next()?.trim_end_matches('/').to_owned();
            let suite = words.next()?.to_owned();
            Some(Source {
                uri,
                suites: vec![suite],
            })
        })
        .collect()
}

/// apt with its own sources, lists and cache below `dir`.
pub struct PrivateApt {
    dir: PathBuf,
    arches: Vec<String>,
}

impl PrivateApt {
    /// `sources` holds `deb` lines; `arches` the package architectures they serve.
    pub fn new(dir: &Path, sources: &str, arches: &[&str]) -> Result<PrivateApt> {
        for sub in ["lists/partial", "cache/archives/partial"] {
            fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        fs::write(dir.join("sources.list"), sources)?;
        Ok(PrivateApt {
            dir: dir.to_owned(),
            arches: arches.iter().map(|a| (*a).to_owned()).collect(),
        })
    }

    fn options(&self) -> Vec<String> {
        let mut options = vec![
            format!(
                "Dir::Etc::SourceList={}",
                self.dir.join("sources.list").display()
            ),
            "Dir::Etc::SourceParts=/dev/null".to_owned(),
            format!("Dir::State::Lists={}", self.dir.join("lists").display()),
            format!("Dir::Cache={}", self.dir.join("cache").display()),
            // Package lists only: no translations, no AppStream metadata.
            "Acquire::Languages=none".to_owned(),
            "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false".to_owned(),
            "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false".to_owned(),
            "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false".to_owned(),
        ];
        options.push("APT::Architectures=".to_owned());
        for arch in &self.arches {
            options.push(format!("APT::Architectures::={arch}"));
        }
        options
    }

    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        for option in self.options() {
            cmd.args(["-o", &option]);
        }
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }

    pub fn update(&self) -> Result<()> {
        output(self.command("apt-get").args(["update", "-qq"]))
            .context("apt-get update with the private sources")?;
        Ok(())
    }

    /// `(version, suite)` of every version of `package` the lists have, newest first.
    pub fn versions(&self, package: &str) -> Result<Vec<(String, String)>> {
        let text = output(self.command("apt-cache").args(["madison", package]))?;
        Ok(parse_madison(&text))
    }

    /// The names `package=version` depends on.
    pub fn depends(&self, package: &str, version: &str) -> Result<Vec<String>> {
        let text = output(
            self.command("apt-cache")
                .args(["show", &format!("{package}={version}")]),
        )?;
        Ok(parse_depends(&text))
    }

    /// Downloads `spec` (`name`, `name:arch`, `name=version`…) into `dest`, unless a .deb of
    /// that name is already there; returns its path.
    pub fn download(&self, spec: &str, dest: &Path) -> Result<PathBuf> {
        let name = spec.split(['=', ':', '/']).next().unwrap_or(spec);
        let arch = spec
            .split_once(':')
            .map(|(_, a)| a.split(['=', '/']).next().unwrap_or(a));
        let find = || -> Option<PathBuf> {
            fs::read_dir(dest)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    let file = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
                    file.starts_with(&format!("{name}_"))
                        && file.ends_with(".deb")
                        && arch.is_none_or(|a| file.ends_with(&format!("_{a}.deb")))
                })
        };
        if let Some(found) = find() {
            return Ok(found);
        }
        fs::create_dir_all(dest)?;
        output(
            self.command("apt-get")
                .args(["download", "-qq", spec])
                .current_dir(dest),
        )
        .with_context(|| format!("downloading {spec}"))?;
        find()
            .with_context(|| format!("apt-get download {spec} left no .deb in {}", dest.display()))
    }
}

/// Unpacks a .deb into `dir`.
pub fn unpack(deb: &Path, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    output(Command::new("dpkg-deb").arg("-x").arg(deb).arg(dir))
        .with_context(|| format!("unpacking {}", deb.display()))?;
    Ok(())
}

fn parse_madison(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            let version = fields.get(1)?.to_string();
            // "http://… trixie-security/main amd64 Packages"
            let suite = fields
                .get(2)?
                .split_whitespace()
                .nth(1)?
                .split('/')
                .next()?;
            Some((version, suite.to_owned()))
        })
        .collect()
}

fn parse_depends(text: &str) -> Vec<String> {
    let Some(line) = text.lines().find_map(|l| l.strip_prefix("Depends:")) else {
        return Vec::new();
    };
    line.split(',')
        .flat_map(|alternatives| alternatives.split('|').next())
        .filter_map(|dep| dep.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Whether Debian version `a` sorts before `b` (dpkg's ordering).
pub fn version_lt(a: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, "lt", b])
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_from_deb822_and_one_line_sources() {
        let deb822 = "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let mirror = Mirror::from_sources(&deb822_sources(deb822)).unwrap();
        assert_eq!(
            mirror,
            Mirror {
                archive: "http://mirror.example/debian".to_owned(),
                security: "http://mirror.example/debian-security".to_owned(),
                codename: "bookworm".to_owned(),
            }
        );
        assert_eq!(
            mirror.line("bullseye-security", &["amd64"]),
            "deb [arch=amd64] http://mirror.example/debian-security bullseye-security main\n"
        );
        let list = "# deb http://old.example/debian buster main\ndeb [signed-by=/k.gpg] http://m.example/debian trixie main\ndeb-src http://m.example/debian trixie main\n";
        let mirror = Mirror::from_sources(&one_line_sources(list)).unwrap();
        assert_eq!(mirror.archive, "http://m.example/debian");
        assert_eq!(mirror.security, "http://m.example/debian-security");
        assert_eq!(mirror.codename, "trixie");
        assert_eq!(Mirror::from_sources(&[]), None);
    }

    #[test]
    fn madison_and_depends_are_parsed() {
        let madison = " linux-image-amd64 | 7.3.4-1~bpo13+1 | http://m.example/debian trixie-backports/main amd64 Packages\n linux-image-amd64 |  6.1.192-3 | http://m.example/debian-security bookworm-security/main amd64 Packages\n";
        assert_eq!(
            parse_madison(madison),
            [
                ("7.3.4-1~bpo13+1".to_owned(), "trixie-backports".to_owned()),
                ("6.1.192-3".to_owned(), "bookworm-security".to_owned())
            ]
        );
        let show = "Package: linux-image-amd64\nDepends: linux-base-amd64 (= 7.3.4-1), dracut | initramfs-tools (>= 0.120), linux-image-7.3.4+deb13-amd64 (= 7.3.4-1)\n";
        assert_eq!(
            parse_depends(show),
            [
                "linux-base-amd64",
                "dracut",
                "linux-image-7.3.4+deb13-amd64"
            ]
        );
    }
}
