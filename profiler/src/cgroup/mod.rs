//! Recording targets that already run: cgroup v2 paths ↔ ids, and container ids → cgroups.
//!
//! The eBPF side knows a cgroup by its id, which is the inode of its directory in the cgroup v2
//! hierarchy, and by its level (depth below the v2 root). Everything here that decides
//! something is a pure function over text or over a list of directories, so it is tested on a
//! fake tree without root; [`walk`] is the only part that reads the real one.
mod mount;

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    fs, io,
    os::unix::fs::MetadataExt as _,
    path::{Component, Path, PathBuf},
};

use self::mount::depth;
pub use self::mount::{v2_mount, V2Mount};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("no cgroup v2 hierarchy is mounted (looked for a cgroup2 line in {0})")]
    NoV2Mount(&'static str),
    #[error("reading {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path} is not a cgroup v2 directory (the v2 hierarchy is mounted at {mount})")]
    NotV2 { path: PathBuf, mount: PathBuf },
    #[error("no process {0}")]
    NoProcess(u32),
    #[error("no container {query} under {mount}{}\n(ids and names: `podman ps --format '{{{{.ID}}}} {{{{.Names}}}}'`, `ctr -n NAMESPACE tasks ls`, `crictl ps`, `docker ps`; a container that is not started yet: --wait-for-container)", list_candidates(.seen, "container cgroups there"))]
    NoContainer {
        query: String,
        mount: PathBuf,
        /// Container-like cgroups that exist, to show what was looked at.
        seen: Vec<String>,
    },
    #[error("container id {query} is ambiguous{}", list_candidates(.matches, "it matches"))]
    Ambiguous { query: String, matches: Vec<String> },
    #[error("an empty container id matches every container")]
    EmptyContainerId,
}

fn list_candidates(list: &[String], what: &str) -> String {
    if list.is_empty() {
        return " (no container cgroups there)".to_owned();
    }
    const SHOWN: usize = 20;
    let mut text = format!("; {what}:");
    for item in list.iter().take(SHOWN) {
        let _ = write!(text, "\n  {item}");
    }
    if list.len() > SHOWN {
        let _ = write!(text, "\n  … and {} more", list.len() - SHOWN);
    }
    text
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TargetError + 'a {
    move |source| TargetError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Where cgroup v2 is mounted on a v2-only host, and so where documentation and manifests
/// point.
const CONVENTIONAL_MOUNT: &str = "/sys/fs/cgroup";

/// One cgroup of the v2 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    /// Its directory.
    pub path: PathBuf,
    /// Its path below the mount, `/` first (as in `/proc/PID/cgroup`).
    pub name: String,
    /// Its id: the directory's inode, which `bpf_get_current_cgroup_id()` returns.
    pub id: u64,
    /// Its depth below the hierarchy's root (the root is level 0).
    pub level: u32,
}

impl Cgroup {
    /// `arg` is a directory under the v2 mount, or a path relative to the mount (with or
    /// without a leading `/`, as `/proc/PID/cgroup` prints it).
    pub fn resolve(arg: &Path, mount: &V2Mount) -> Result<Cgroup, TargetError> {
        let below = match arg.strip_prefix(&mount.path) {
            Ok(below) => below.to_owned(),
            // `/sys/fs/cgroup/kubepods.slice` as written for a v2-only host, on a hybrid one
            // (v2 at /sys/fs/cgroup/unified): the same cgroup below the v2 mount.
            Err(_) if !arg.exists() && arg.starts_with(CONVENTIONAL_MOUNT) => arg
                .strip_prefix(CONVENTIONAL_MOUNT)
                .expect("checked")
                .to_owned(),
            Err(_) if arg.is_absolute() && fs::metadata(arg).is_ok() => {
                // Another spelling of a path under the mount (a symlink), or a v1 cgroup.
                let real = fs::canonicalize(arg).map_err(io_err("cgroup", arg))?;
                let mount_real =
                    fs::canonicalize(&mount.path).map_err(io_err("cgroup mount", &mount.path))?;
                real.strip_prefix(&mount_real)
                    .map_err(|_| TargetError::NotV2 {
                        path: arg.to_owned(),
                        mount: mount.path.clone(),
                    })?
                    .to_owned()
            }
            Err(_) => arg.strip_prefix("/").unwrap_or(arg).to_owned(),
        };
        if below
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(TargetError::NotV2 {
                path: arg.to_owned(),
                mount: mount.path.clone(),
            });
        }
        let path = mount.path.join(&below);
        let meta = fs::metadata(&path).map_err(io_err("cgroup", &path))?;
        if !meta.is_dir() || !path.join("cgroup.procs").exists() {
            return Err(TargetError::NotV2 {
                path,
                mount: mount.path.clone(),
            });
        }
        Ok(Cgroup {
            name: format!("/{}", below.display()),
            id: meta.ino(),
            level: mount.root_depth + depth(&below),
            path,
        })
    }

    /// Whether it still exists as the same cgroup (a new one at the same path has a new id).
    pub fn exists(&self) -> bool {
        fs::metadata(&self.path).is_ok_and(|meta| meta.ino() == self.id)
    }

    /// Whether a task lives in it or in a descendant (`populated` of `cgroup.events`).
    pub fn populated(&self) -> io::Result<bool> {
        let text = fs::read_to_string(self.path.join("cgroup.events"))?;
        parse_populated(&text).ok_or_else(|| io::Error::other("no populated line in cgroup.events"))
    }
}

pub fn parse_populated(events: &str) -> Option<bool> {
    events.lines().find_map(|line| match line.split_once(' ')? {
        ("populated", value) => Some(value.trim() == "1"),
        _ => None,
    })
}

/// The processes in cgroup directory `dir` and every cgroup below it.
pub fn processes(dir: &Path) -> Result<Vec<u32>, TargetError> {
    Ok(std::iter::once(dir.to_owned())
        .chain(walk(dir)?.into_keys().map(|rel| dir.join(rel)))
        .flat_map(|cgroup| processes_here(&cgroup))
        .collect())
}

/// The processes in cgroup directory `dir` itself.
pub fn processes_here(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|text| {
            text.lines()
                .filter_map(|line| line.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The `Seccomp:` mode of `/proc/PID/status` text: 0 none, 1 strict, 2 filter.
pub fn seccomp_mode(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Seccomp:"))
        .and_then(|mode| mode.trim().parse().ok())
}

/// Every cgroup below `root` (not `root` itself): path relative to `root` → id. A directory that
/// vanishes during the walk was removed: it is left out with what was below it. Any other error
/// (the root itself missing, no descriptor left) fails the walk: what it could not see is not
/// known to be gone.
pub fn walk(root: &Path) -> Result<BTreeMap<PathBuf, u64>, TargetError> {
    let mut found = BTreeMap::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        let vanished =
            |err: &io::Error| !rel.as_os_str().is_empty() && err.kind() == io::ErrorKind::NotFound;
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if vanished(&err) => continue,
            Err(err) => return Err(io_err("cgroup directory", &dir)(err)),
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) if vanished(&err) => break,
                Err(err) => return Err(io_err("cgroup directory", &dir)(err)),
            };
            // file_type does not follow symlinks; cgroup directories are never symlinks.
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(io_err("cgroup", &entry.path())(err)),
            };
            let child = rel.join(entry.file_name());
            found.insert(child.clone(), meta.ino());
            pending.push(child);
        }
    }
    Ok(found)
}

/// How a runtime names a container's cgroup directory, systemd driver (`PREFIX-ID.scope`) or
/// cgroupfs driver (`PREFIX-ID`, or the bare id).
const RUNTIME_PREFIXES: [(&str, &str); 5] = [
    ("cri-containerd-", "containerd"),
    ("crio-", "CRI-O"),
    ("docker-", "Docker"),
    ("libpod-", "podman"),
    ("runc-", "runc"),
];

/// The runtimes' monitor processes get cgroups named like their containers'; they are not the
/// container.
const NOT_CONTAINERS: [&str; 2] = ["crio-conmon-", "libpod-conmon-"];

/// The container id a cgroup directory name carries, and whether the id may be matched by
/// prefix. A bare name is matched by prefix only when it looks like a generated id (12+ hex
/// digits: Docker's `/docker/ID`, containerd's cgroupfs `…/pod<uid>/ID`); any other bare name
/// (runc's `cgroupsPath` is free-form, e.g. `/mycontainer`) only in full.
pub fn container_id_of(dir_name: &str) -> Option<(&str, bool)> {
    if NOT_CONTAINERS.iter().any(|p| dir_name.starts_with(p)) {
        return None;
    }
    let stem = dir_name.strip_suffix(".scope").unwrap_or(dir_name);
    for (prefix, _) in RUNTIME_PREFIXES {
        if let Some(id) = stem.strip_prefix(prefix) {
            return (!id.is_empty()).then_some((id, true));
        }
    }
    if dir_name.ends_with(".slice") || dir_name.ends_with(".scope") || dir_name.ends_with(".mount")
    {
        return None;
    }
    Some((dir_name, looks_generated(dir_name)))
}

fn looks_generated(id: &str) -> bool {
    id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The cgroup (relative to the walked root) of container `query`, a full id or a unique prefix.
/// `cgroups` is what [`walk`] returns.
pub fn find_container<'a, I>(cgroups: I, query: &str, mount: &Path) -> Result<PathBuf, TargetError>
where
    I: IntoIterator<Item = &'a PathBuf>,
{
    if query.is_empty() {
        return Err(TargetError::EmptyContainerId);
    }
    let mut matches = BTreeSet::new();
    let mut seen = Vec::new();
    for rel in cgroups {
        let Some(name) = rel.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((id, by_prefix)) = container_id_of(name) else {
            continue;
        };
        if by_prefix || name != id {
            seen.push(format!("/{}", rel.display()));
        }
        if id == query || (by_prefix && id.starts_with(query)) {
            matches.insert(rel.clone());
        }
    }
    // A container's own sub-cgroups may repeat its name (e.g. `…/ID/ID`); the outermost is the
    // container.
    let outermost: Vec<PathBuf> = matches
        .iter()
        .filter(|m| {
            !matches
                .iter()
                .any(|other| other != *m && m.starts_with(other))
        })
        .cloned()
        .collect();
    match outermost.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(TargetError::NoContainer {
            query: query.to_owned(),
            mount: mount.to_owned(),
            seen,
        }),
        many => Err(TargetError::Ambiguous {
            query: query.to_owned(),
            matches: many.iter().map(|m| format!("/{}", m.display())).collect(),
        }),
    }
}

/// A container a runtime's state files know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub id: String,
    pub names: Vec<String>,
    pub runtime: &'static str,
}

/// Where runtimes keep what names their containers, read without their daemons or APIs.
const PODMAN_CONTAINERS: &str = "/var/lib/containers/storage/overlay-containers/containers.json";
const DOCKER_CONTAINERS: &str = "/var/lib/docker/containers";
const CONTAINERD_TASKS: &str = "/run/containerd/io.containerd.runtime.v2.task";
const RUNC_STATE: &str = "/run/runc";
const CRUN_STATE: &str = "/run/crun";

/// Every container the runtimes' state files on this host know: podman's and CRI-O's storage
/// (ids and names), Docker's (ids and names), containerd's tasks (ids, per namespace), runc's
/// and crun's state directories (ids). Unreadable sources are skipped.
pub fn known_containers() -> Vec<Known> {
    let mut known = Vec::new();
    if let Ok(text) = fs::read_to_string(PODMAN_CONTAINERS) {
        known.extend(parse_podman_containers(&text));
    }
    for entry in fs::read_dir(DOCKER_CONTAINERS)
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(text) = fs::read_to_string(entry.path().join("config.v2.json")) {
            known.extend(parse_docker_config(&text));
        }
    }
    for namespace in fs::read_dir(CONTAINERD_TASKS)
        .into_iter()
        .flatten()
        .flatten()
    {
        known.extend(dir_names(&namespace.path(), "containerd"));
    }
    known.extend(dir_names(Path::new(RUNC_STATE), "runc"));
    known.extend(dir_names(Path::new(CRUN_STATE), "crun"));
    known
}

fn dir_names(dir: &Path, runtime: &'static str) -> Vec<Known> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .map(|id| Known {
            id,
            names: Vec::new(),
            runtime,
        })
        .collect()
}

/// podman's (and CRI-O's) `containers.json`: `[{"id": …, "names": […]}, …]`.
pub fn parse_podman_containers(text: &str) -> Vec<Known> {
    #[derive(serde::Deserialize)]
    struct Entry {
        id: String,
        #[serde(default)]
        names: Vec<String>,
    }
    serde_json::from_str::<Vec<Entry>>(text)
        .unwrap_or_default()
        .into_iter()
        .map(|e| Known {
            id: e.id,
            names: e.names,
            runtime: "podman",
        })
        .collect()
}

/// Docker's `config.v2.json`: `{"ID": …, "Name": "/web", …}`.
pub fn parse_docker_config(text: &str) -> Option<Known> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "ID")]
        id: String,
        #[serde(rename = "Name", default)]
        name: String,
    }
    let config: Config = serde_json::from_str(text).ok()?;
    let name = config.name.trim_start_matches('/').to_owned();
    Some(Known {
        id: config.id,
        names: (!name.is_empty()).then_some(name).into_iter().collect(),
        runtime: "Docker",
    })
}

/// The full id `query` names among `known`: a name, an id, or a unique id prefix. `None`
/// when nothing known matches (the cgroup names decide then); an error when it is ambiguous.
pub fn resolve_known(query: &str, known: &[Known]) -> Result<Option<String>, TargetError> {
    if let Some(k) = known.iter().find(|k| k.names.iter().any(|n| n == query)) {
        return Ok(Some(k.id.clone()));
    }
    let mut ids: Vec<&str> = known
        .iter()
        .filter(|k| k.id.starts_with(query))
        .map(|k| k.id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if let Some(exact) = ids.iter().find(|id| **id == query) {
        return Ok(Some((*exact).to_owned()));
    }
    match ids.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).to_owned())),
        many => Err(TargetError::Ambiguous {
            query: query.to_owned(),
            matches: many.iter().map(|id| (*id).to_owned()).collect(),
        }),
    }
}

/// The cgroup (below the mount) of container `query`: a name or id the runtimes' state files
/// know (a unique prefix of one too), else a full id or unique prefix in the cgroup names.
pub fn locate_container(query: &str, mount: &V2Mount) -> Result<PathBuf, TargetError> {
    let id = resolve_known(query, &known_containers())?;
    let cgroups = walk(&mount.path)?;
    find_container(cgroups.keys(), id.as_deref().unwrap_or(query), &mount.path)
}

/// A file name for the profile of cgroup `name` (a path below the recorded root): its
/// components joined by `_`, every byte outside `[A-Za-z0-9._-]` replaced by `_`, kept under
/// the usual 255-byte name limit (long names keep their tail, which names the container).
pub fn file_stem(name: &str) -> String {
    let mut stem: String = name
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() || stem.chars().all(|c| c == '.') {
        stem = format!("_{stem}");
    }
    const MAX: usize = 200;
    if stem.len() > MAX {
        // Only ASCII is left, so any byte index is a char boundary.
        stem = format!("_{}", &stem[stem.len() - MAX..]);
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seccomp_mode_is_read_from_proc_status() {
        assert_eq!(
            seccomp_mode("Name:\tsh\nSeccomp:\t2\nSeccomp_filters:\t1\n"),
            Some(2)
        );
        assert_eq!(seccomp_mode("Seccomp:\t0\n"), Some(0));
        assert_eq!(seccomp_mode("Name:\tsh\n"), None);
    }

    #[test]
    fn populated_is_read_from_cgroup_events() {
        assert_eq!(parse_populated("populated 1\nfrozen 0\n"), Some(true));
        assert_eq!(parse_populated("populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(parse_populated("frozen 0\n"), None);
    }

    const A: &str = "3f2a9c0e1b7d4a5e8f6c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e";
    const B: &str = "3f2b000000000000000000000000000000000000000000000000000000000000";
    const C: &str = "c0ffee0000000000000000000000000000000000000000000000000000000000";

    /// Every layout the issue lists, in one fake tree.
    fn tree() -> Vec<PathBuf> {
        [
            "system.slice".to_owned(),
            "system.slice/containerd.service".to_owned(),
            "kubepods.slice".to_owned(),
            "kubepods.slice/kubepods-burstable.slice".to_owned(),
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice".to_owned(),
            format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-{A}.scope"),
            format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/crio-conmon-{B}.scope"),
            format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/crio-{B}.scope"),
            "kubepods".to_owned(),
            "kubepods/besteffort".to_owned(),
            "kubepods/besteffort/pod5678".to_owned(),
            format!("kubepods/besteffort/pod5678/{C}"),
            "system.slice/docker-aaaa1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888.scope".to_owned(),
            "docker".to_owned(),
            "docker/dddd1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888".to_owned(),
            "machine.slice".to_owned(),
            "machine.slice/libpod-conmon-eeee1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888.scope".to_owned(),
            "machine.slice/libpod-eeee1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888.scope".to_owned(),
            "system.slice/runc-web.scope".to_owned(),
            "mycontainer".to_owned(),
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect()
    }

    fn find(query: &str) -> Result<PathBuf, TargetError> {
        find_container(&tree(), query, Path::new("/sys/fs/cgroup"))
    }

    #[test]
    fn every_layout_resolves() {
        let pod = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice";
        assert_eq!(
            find(A).unwrap(),
            PathBuf::from(format!("{pod}/cri-containerd-{A}.scope"))
        );
        assert_eq!(find("3f2a").unwrap(), find(A).unwrap());
        // CRI-O's conmon scope carries the same id and must not make it ambiguous.
        assert_eq!(
            find(B).unwrap(),
            PathBuf::from(format!("{pod}/crio-{B}.scope"))
        );
        assert_eq!(
            find("c0ffee").unwrap(),
            PathBuf::from(format!("kubepods/besteffort/pod5678/{C}"))
        );
        assert!(find("aaaa1111").unwrap().ends_with(
            "docker-aaaa1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888.scope"
        ));
        assert!(find("dddd11").unwrap().starts_with("docker/"));
        assert!(find("eeee")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("machine.slice/libpod-eeee"));
        assert_eq!(
            find("web").unwrap(),
            PathBuf::from("system.slice/runc-web.scope")
        );
        // A free-form runc cgroupsPath matches in full only.
        assert_eq!(find("mycontainer").unwrap(), PathBuf::from("mycontainer"));
        assert!(matches!(
            find("mycont"),
            Err(TargetError::NoContainer { .. })
        ));
    }

    #[test]
    fn ambiguous_and_missing_ids_list_candidates() {
        let err = find("3f2").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, TargetError::Ambiguous { ref matches, .. } if matches.len() == 2),
            "{text}"
        );
        assert!(
            text.contains(&format!("cri-containerd-{A}.scope")),
            "{text}"
        );
        assert!(text.contains(&format!("crio-{B}.scope")), "{text}");

        let err = find("deadbeef").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no container deadbeef"), "{text}");
        assert!(
            text.contains(&format!("/kubepods/besteffort/pod5678/{C}")),
            "{text}"
        );
        // Slices are not containers.
        assert!(!text.contains("kubepods.slice\n"), "{text}");
        assert!(matches!(find(""), Err(TargetError::EmptyContainerId)));
    }

    #[test]
    fn names_and_prefixes_from_runtime_state() {
        let podman = parse_podman_containers(&format!(
            r#"[{{"id": "{A}", "names": ["web"], "image": "x"}}, {{"id": "{B}", "names": ["db"]}}]"#
        ));
        let docker = parse_docker_config(&format!(r#"{{"ID": "{C}", "Name": "/api"}}"#)).unwrap();
        assert_eq!(docker.names, ["api"]);
        let ctr = Known {
            id: "frontend".into(),
            names: vec![],
            runtime: "containerd",
        };
        let known: Vec<Known> = podman.into_iter().chain([docker, ctr]).collect();
        let resolve = |q| resolve_known(q, &known);
        assert_eq!(resolve("web").unwrap().as_deref(), Some(A));
        assert_eq!(resolve("api").unwrap().as_deref(), Some(C));
        assert_eq!(resolve("front").unwrap().as_deref(), Some("frontend"));
        assert_eq!(resolve("3f2a").unwrap().as_deref(), Some(A));
        assert!(matches!(resolve("3f2"), Err(TargetError::Ambiguous { .. })));
        assert_eq!(resolve("nothing").unwrap(), None);
        assert!(parse_podman_containers("garbage").is_empty());
    }

    #[test]
    fn nested_repeats_resolve_to_the_outermost() {
        let cgroups: Vec<PathBuf> = [format!("docker/{C}"), format!("docker/{C}/{C}")]
            .into_iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(
            find_container(&cgroups, "c0f", Path::new("/")).unwrap(),
            PathBuf::from(format!("docker/{C}"))
        );
    }

    #[test]
    fn walk_and_resolve_a_real_directory_tree() {
        let root = std::env::temp_dir().join(format!("profile-targets-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let leaf = root.join(format!("kubepods/burstable/pod9/{A}"));
        fs::create_dir_all(&leaf).unwrap();
        fs::create_dir_all(root.join("kubepods.slice/kubepods-pod9.slice")).unwrap();
        fs::write(root.join("kubepods/cgroup.procs"), "").unwrap();
        let found = walk(&root).unwrap();
        assert_eq!(found.len(), 6, "{found:?}");
        // What cannot be read is an error, never an empty tree.
        assert!(walk(&root.join("missing")).is_err());
        assert!(walk(&root.join("kubepods/cgroup.procs")).is_err());
        let rel = find_container(found.keys(), "3f2a9c", &root).unwrap();
        assert_eq!(found[&rel], fs::metadata(&leaf).unwrap().ino());

        let mount = V2Mount {
            path: root.clone(),
            root_depth: 1,
            root: "/x".into(),
        };
        fs::write(leaf.join("cgroup.procs"), "12\n13\n").unwrap();
        fs::write(root.join("kubepods/cgroup.procs"), "7\n").unwrap();
        let mut pids = processes(&root.join("kubepods")).unwrap();
        pids.sort();
        assert_eq!(pids, [7, 12, 13]);
        let by_rel =
            Cgroup::resolve(Path::new(&format!("/kubepods/burstable/pod9/{A}")), &mount).unwrap();
        let by_abs = Cgroup::resolve(&leaf, &mount).unwrap();
        assert_eq!(by_rel, by_abs);
        assert_eq!(by_abs.level, 5);
        assert_eq!(by_abs.name, format!("/kubepods/burstable/pod9/{A}"));
        assert!(by_abs.exists());
        assert!(Cgroup::resolve(Path::new("kubepods/../etc"), &mount).is_err());
        // A directory without cgroup.procs is not a cgroup.
        assert!(Cgroup::resolve(Path::new("kubepods.slice"), &mount).is_err());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn file_stems_are_single_safe_names() {
        assert_eq!(
            file_stem("/kubepods.slice/kubepods-pod1.slice/cri-containerd-ab.scope"),
            "kubepods.slice_kubepods-pod1.slice_cri-containerd-ab.scope"
        );
        assert_eq!(file_stem("a b/c\u{e9}:d"), "a_b_c__d");
        assert_eq!(file_stem(".."), "_..");
        assert_eq!(file_stem("/"), "_");
        let long = format!("/{}/{A}", "x".repeat(300));
        let stem = file_stem(&long);
        assert!(stem.len() <= 201 && stem.ends_with(A), "{stem}");
    }
}
