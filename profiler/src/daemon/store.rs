//! The daemon's profiles on disk: one per workload, `<out dir>/<name>.json`, and beside it
//! `<name>.json.meta`, the workload's replicas (one per cgroup id) with each one's own syscalls
//! (its coverage). The meta file is what a restarted daemon merges with. It is written second,
//! so it never holds a syscall its profile lacks: a restarted daemon rewrites a profile only when
//! the kernel maps add something to the meta file, and they still hold everything a `kill -9`
//! between the two writes kept out of it (entries are freed only after both writes). Each write
//! is atomic (temp file, fsync, rename, fsync of the directory).
//!
//! A workload that seccomp denied calls gets `<name>.proposed.json` too: its profile plus the
//! denied syscalls it lacks, and `<name>.proposed.json.meta`, where each of them came from
//! ([`super::denials`]). The profile itself never gets them. They are written before the meta
//! file, which holds the denials a restarted daemon starts from.
mod files;

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    ffi::{OsStr, OsString},
    fs, io,
    os::unix::{ffi::OsStrExt as _, fs::MetadataExt as _},
    path::{Path, PathBuf},
};

use log::{info, warn};
use serde::{Deserialize, Serialize};

use super::{
    denials::{self, Denied, Observed, Source},
    identity::Identity,
};
use crate::{
    cgroup,
    output::{self, Batch},
    profile::learn::DefaultAction,
    syscalls::Arch,
};

pub use self::files::Judged;

/// The output format of the profile files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// OCI `linux.seccomp` JSON.
    Oci,
    /// A SeccompProfile resource (JSON) named after the workload.
    Spo,
    /// The kubelet's Localhost file (OCI JSON).
    Kubelet,
}

const META_SUFFIX: &str = ".json.meta";
/// A proposal's file stem is its workload's with this added, which no workload's ends with.
const PROPOSED: &str = ".proposed";

/// Where a cgroup is and which workload it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// Path below the cgroup v2 mount.
    pub cgroup: String,
    pub identity: Identity,
    /// The workload's file stem.
    pub workload: String,
}

impl Place {
    /// A cgroup named by its path: `below_root` (its path below the daemon's root) made a file
    /// stem, its identity from the path alone.
    pub fn by_path(cgroup: &str, below_root: &str) -> Place {
        let mut workload = cgroup::file_stem(below_root);
        // A cgroup directory `web.proposed` must not take workload `web`'s proposal files.
        // (Kubernetes container names have no dots, so a kubelet-named stem never ends so.)
        if workload.ends_with(PROPOSED) {
            workload.push('_');
        }
        Place {
            cgroup: cgroup.to_owned(),
            identity: Identity::of_path(cgroup),
            workload,
        }
    }
}

/// One cgroup of a workload, as the meta file keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replica {
    pub cgroup_id: u64,
    /// Path below the cgroup v2 mount; absent for a cgroup that came and went unseen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(flatten)]
    pub identity: Identity,
    /// The cgroup no longer exists.
    #[serde(default)]
    pub removed: bool,
    /// Recorded mid-life: it already ran when the programs were loaded, so its start-up (its
    /// runtime's and its own) is not in the profile. Never a complete replica.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Its coverage: how many distinct syscalls it made (the length of `syscalls`).
    pub distinct: usize,
    /// Its syscall numbers per ABI.
    pub syscalls: BTreeMap<Arch, BTreeSet<u64>>,
    /// What seccomp denied it, per syscall (sorted by ABI and number).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<Denied>,
}

impl Replica {
    fn made(&self, abi: Arch, nr: u64) -> bool {
        self.syscalls.get(&abi).is_some_and(|nrs| nrs.contains(&nr))
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    workload: String,
    replicas: Vec<Replica>,
}

#[derive(Debug, Default)]
pub struct Workload {
    /// Boxed: a map node holds room for eleven entries, and most workloads have one replica.
    pub replicas: BTreeMap<u64, Box<Replica>>,
    /// Changed since it was last written.
    pub dirty: bool,
    /// Its proposal is on disk (written, or found at start).
    pub proposed: bool,
}

impl Workload {
    /// The union of its replicas' syscalls.
    pub fn syscalls(&self) -> BTreeSet<(Arch, u64)> {
        self.replicas
            .values()
            .flat_map(|r| {
                r.syscalls
                    .iter()
                    .flat_map(|(abi, nrs)| nrs.iter().map(move |nr| (*abi, *nr)))
            })
            .collect()
    }

    pub fn has_denials(&self) -> bool {
        self.replicas.values().any(|r| !r.denied.is_empty())
    }
}

pub struct Store {
    dir: PathBuf,
    format: OutputFormat,
    default_action: DefaultAction,
    pub workloads: BTreeMap<String, Workload>,
    by_cgroup: BTreeMap<u64, String>,
    /// Cgroups that already had processes when the programs were loaded.
    running_before: BTreeSet<u64>,
    /// The directory as the last check of its files found it, when no later change can look
    /// the same: while it stays so, no file can be missing and no check reads it.
    checked: Option<DirStamp>,
}

/// What changes whenever a file is added to, removed from or renamed in a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DirStamp {
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
}

impl DirStamp {
    fn of(dir: &Path) -> Option<DirStamp> {
        let meta = fs::metadata(dir).ok()?;
        Some(DirStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        })
    }
}

/// A write that failed, for the log and the metrics.
#[derive(Debug)]
pub struct FlushError {
    pub workload: String,
    pub error: String,
}

impl Store {
    /// Reads the meta files of an earlier run in `dir` and removes temporary files a killed
    /// daemon left. A directory that cannot be created or read is a warning: the daemon keeps
    /// what it learns in memory (and the kernel) and retries at every flush.
    pub fn open(dir: &Path, format: OutputFormat, default_action: DefaultAction) -> Store {
        let mut store = Store {
            dir: dir.to_owned(),
            format,
            default_action,
            workloads: BTreeMap::new(),
            by_cgroup: BTreeMap::new(),
            running_before: BTreeSet::new(),
            checked: None,
        };
        if let Err(err) = fs::create_dir_all(dir) {
            warn!(
                "output directory {}: {err}; will retry at every flush",
                dir.display()
            );
            return store;
        }
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => {
                warn!("reading output directory {}: {err}", dir.display());
                return store;
            }
        };
        // Writes a killed daemon never finished; nobody else's files.
        match output::remove_stale_temps(dir, |target| {
            let target = target.as_bytes();
            target.ends_with(b".json") || target.ends_with(META_SUFFIX.as_bytes())
        }) {
            Ok(removed) if !removed.is_empty() => info!(
                "removed {} temporary file(s) of unfinished writes from {}",
                removed.len(),
                dir.display()
            ),
            Ok(_) => {}
            Err(err) => warn!("output directory {}: {err}", dir.display()),
        }
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let proposal = name.ends_with(&format!("{PROPOSED}{META_SUFFIX}"));
            if let Some(stem) = name.strip_suffix(META_SUFFIX).filter(|_| !proposal) {
                if let Err(err) = store.load(stem, &path) {
                    let aside = path.with_extension("meta.unreadable");
                    warn!(
                        "{}: {err}; moved to {} and started afresh",
                        path.display(),
                        aside.display()
                    );
                    let _ = fs::rename(&path, &aside);
                }
            }
        }
        if !store.workloads.is_empty() {
            info!(
                "merging with {} workload(s) ({} cgroups) already in {}",
                store.workloads.len(),
                store.by_cgroup.len(),
                dir.display()
            );
        }
        store
    }

    fn load(&mut self, stem: &str, path: &Path) -> Result<(), String> {
        let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
        let meta: Meta = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if meta.workload != stem {
            return Err(format!("it is the meta file of workload {}", meta.workload));
        }
        let proposed = self.proposal_path(stem).exists();
        let mut workload = Workload {
            // A meta file without its profile: the daemon died between the two writes.
            dirty: !self.profile_path(stem).exists(),
            proposed,
            ..Workload::default()
        };
        for replica in meta.replicas {
            self.by_cgroup.insert(replica.cgroup_id, stem.to_owned());
            workload
                .replicas
                .insert(replica.cgroup_id, Box::new(replica));
        }
        // Denials without a proposal beside them: written again, which writes it if it is due.
        workload.dirty |= workload.has_denials() && !proposed;
        self.workloads.insert(stem.to_owned(), workload);
        Ok(())
    }

    pub fn profile_path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}.json"))
    }

    fn meta_path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}{META_SUFFIX}"))
    }

    pub fn proposal_path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}{PROPOSED}.json"))
    }

    fn proposal_meta_path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}{PROPOSED}{META_SUFFIX}"))
    }

    /// The workload cgroup `id` belongs to, if known.
    pub fn workload_of(&self, id: u64) -> Option<&str> {
        self.by_cgroup.get(&id).map(String::as_str)
    }

    /// Whether observing cgroup `id` needs its [`Place`]: it is new, or was seen only by id.
    pub fn needs_place(&self, id: u64) -> bool {
        self.by_cgroup
            .get(&id)
            .and_then(|stem| self.workloads.get(stem))
            .and_then(|w| w.replicas.get(&id))
            .is_none_or(|r| r.cgroup.is_none())
    }

    /// Adds what cgroup `id` made. `place` (when its path is known) names the workload of a new
    /// cgroup; one never seen by path is named after its id. A known cgroup stays in its workload.
    pub fn observe(&mut self, id: u64, place: Option<Place>, syscalls: &[(Arch, u64)]) {
        let (dirty, replica) = self.replica(id, place);
        for (abi, nr) in syscalls {
            if replica.syscalls.entry(*abi).or_default().insert(*nr) {
                replica.distinct += 1;
                *dirty = true;
            }
        }
    }

    /// Adds calls seccomp denied cgroup `id` (placed as by [`Store::observe`]). The kernel's
    /// count of a syscall the cgroup has made is not taken: a thread that was inside a call when
    /// another one installed the filter for all (TSYNC) leaves it under a filter it entered
    /// without, and that call was let in. Returns whether it was taken.
    pub fn observe_denial(&mut self, id: u64, place: Option<Place>, observed: &Observed) -> bool {
        let (dirty, replica) = self.replica(id, place);
        if matches!(observed.source, Source::Kernel { .. })
            && replica.made(observed.arch, observed.nr)
        {
            return false;
        }
        let changed = denials::record(&mut replica.denied, observed);
        *dirty |= changed;
        changed
    }

    /// The replica of cgroup `id`, created when new, and its workload's `dirty`.
    fn replica(&mut self, id: u64, place: Option<Place>) -> (&mut bool, &mut Replica) {
        let stem = match self.by_cgroup.get(&id) {
            Some(stem) => stem.clone(),
            None => {
                let stem = match &place {
                    Some(place) => place.workload.clone(),
                    None => format!("cgroup-{id}"),
                };
                self.by_cgroup.insert(id, stem.clone());
                stem
            }
        };
        let Workload {
            replicas, dirty, ..
        } = self.workloads.entry(stem).or_default();
        let replica = replicas.entry(id).or_insert_with(|| {
            *dirty = true;
            Box::new(Replica {
                cgroup_id: id,
                cgroup: None,
                identity: Identity::default(),
                removed: false,
                partial: self.running_before.contains(&id),
                distinct: 0,
                syscalls: BTreeMap::new(),
                denied: Vec::new(),
            })
        });
        if replica.cgroup.is_none() {
            if let Some(place) = place {
                replica.cgroup = Some(place.cgroup);
                replica.identity = place.identity;
                *dirty = true;
            }
        }
        (dirty, replica)
    }

    /// The pinned maps are new (loaded or replaced): no count read from them yet.
    pub fn maps_replaced(&mut self) {
        for denied in self
            .workloads
            .values_mut()
            .flat_map(|w| w.replicas.values_mut())
            .flat_map(|r| r.denied.iter_mut())
        {
            denied.kernel_read = 0;
        }
    }

    /// The cgroups that already had processes when counting began: their replicas are partial.
    pub fn running_before(&mut self, ids: BTreeSet<u64>) {
        self.running_before = ids;
    }

    /// Records that cgroup `id` is gone.
    pub fn mark_removed(&mut self, id: u64) {
        let Some(stem) = self.by_cgroup.get(&id) else {
            return;
        };
        if let Some(workload) = self.workloads.get_mut(stem) {
            if let Some(replica) = workload.replicas.get_mut(&id) {
                if !replica.removed {
                    replica.removed = true;
                    workload.dirty = true;
                }
            }
        }
    }

    /// Whether everything known about cgroup `id` is on disk.
    pub fn is_written(&self, id: u64) -> bool {
        self.by_cgroup
            .get(&id)
            .and_then(|stem| self.workloads.get(stem))
            .is_some_and(|w| !w.dirty)
    }

    fn replica_of(&self, id: u64) -> Option<&Replica> {
        self.by_cgroup
            .get(&id)
            .and_then(|stem| self.workloads.get(stem))
            .and_then(|w| w.replicas.get(&id).map(|r| &**r))
    }

    /// The syscalls cgroup `id` was denied (their kernel entries are keyed by number).
    pub fn denied_of(&self, id: u64) -> Vec<(Arch, u64)> {
        self.replica_of(id)
            .map(|replica| replica.denied.iter().map(|d| (d.arch, d.nr)).collect())
            .unwrap_or_default()
    }

    /// The out-of-table numbers cgroup `id` made (their kernel entries are keyed by number).
    pub fn odd_of(&self, id: u64) -> Vec<(Arch, u64)> {
        let Some(replica) = self.replica_of(id) else {
            return Vec::new();
        };
        replica
            .syscalls
            .iter()
            .flat_map(|(abi, nrs)| {
                nrs.iter()
                    .filter(|nr| **nr >= profiler_common::SYSCALL_TABLE_SIZE as u64)
                    .map(move |nr| (*abi, *nr))
            })
            .collect()
    }

    /// Writes every changed workload; returns how many were written and what failed (those stay
    /// changed and are tried again at the next flush). The output directory is created again
    /// when it is gone; with `verify`, workloads whose files are missing from it (deleted, or gone
    /// with the directory) are written again too, from what memory holds: the kernel entries of
    /// removed cgroups were freed once their files were first written.
    pub fn flush(&mut self, verify: bool) -> (usize, Vec<FlushError>) {
        // When it cannot be created, the writes below say why.
        if !self.dir.is_dir() && fs::create_dir_all(&self.dir).is_ok() {
            warn!(
                "output directory {} was gone: created it again",
                self.dir.display()
            );
        }
        if verify {
            match self.check_files() {
                (0, _) => {}
                (n, None) => warn!(
                    "{n} workload(s) have files missing from {}: writing them again",
                    self.dir.display()
                ),
                (n, Some(err)) => warn!(
                    "reading output directory {}: {err}; writing {n} workload(s) again",
                    self.dir.display()
                ),
            }
        }
        let dirty: Vec<String> = self
            .workloads
            .iter()
            .filter(|(_, w)| w.dirty)
            .map(|(stem, _)| stem.clone())
            .collect();
        let mut written = 0;
        let mut errors = Vec::new();
        let mut batch = Batch::default();
        for stem in dirty {
            let staged = self.files(&stem).and_then(|(files, proposes)| {
                batch
                    .stage((stem.clone(), proposes), &files)
                    .map_err(|e| e.to_string())
            });
            if let Err(error) = staged {
                errors.push(FlushError {
                    workload: stem,
                    error,
                });
            }
            if batch.full() {
                self.committed(std::mem::take(&mut batch), &mut written, &mut errors);
            }
        }
        self.committed(batch, &mut written, &mut errors);
        (written, errors)
    }

    fn committed(
        &mut self,
        batch: Batch<(String, bool)>,
        written: &mut usize,
        errors: &mut Vec<FlushError>,
    ) {
        for ((stem, proposes), result) in batch.commit() {
            match result {
                Ok(()) => {
                    let workload = self.workloads.get_mut(&stem).expect("staged above");
                    workload.dirty = false;
                    workload.proposed |= proposes;
                    *written += 1;
                }
                Err(error) => errors.push(FlushError {
                    workload: stem,
                    error: error.to_string(),
                }),
            }
        }
    }

    /// Marks changed every written workload whose profile or meta file is not in the directory
    /// (all of them when it cannot be read); returns how many, and why it could not be read.
    fn check_files(&mut self) -> (usize, Option<io::Error>) {
        let stamp = DirStamp::of(&self.dir);
        if stamp.is_some() && stamp == self.checked {
            return (0, None);
        }
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() as i64);
        let found = self.mark_missing();
        // Timestamps are coarse (a clock tick): a change right after the read below could
        // leave the same one. A stamp over a second older than the read cannot be repeated.
        self.checked = stamp.filter(|stamp| stamp.mtime.0 + 1 < started);
        found
    }

    fn mark_missing(&mut self) -> (usize, Option<io::Error>) {
        let (present, error): (HashSet<OsString>, _) = match fs::read_dir(&self.dir) {
            Ok(entries) => (
                entries
                    .filter_map(|entry| entry.ok().map(|entry| entry.file_name()))
                    .collect(),
                None,
            ),
            Err(err) => (HashSet::new(), Some(err)),
        };
        let mut marked = 0;
        for (stem, workload) in &mut self.workloads {
            let mut files = vec![format!("{stem}.json"), format!("{stem}{META_SUFFIX}")];
            if workload.proposed {
                files.push(format!("{stem}{PROPOSED}.json"));
                files.push(format!("{stem}{PROPOSED}{META_SUFFIX}"));
            }
            let missing = files.iter().any(|name| !present.contains(OsStr::new(name)));
            if !workload.dirty && missing {
                workload.dirty = true;
                marked += 1;
            }
        }
        (marked, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("profile-store-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_restart_merges_with_what_is_on_disk() {
        let dir = scratch("restart");
        let mut store = Store::open(&dir, OutputFormat::Oci, DefaultAction::Errno(1));
        let path = || Some(Place::by_path("/root/web", "web"));
        store.observe(7, path(), &[(Arch::X86_64, 0), (Arch::X86_64, 1)]);
        store.observe(8, path(), &[(Arch::X86_64, 2)]);
        store.observe(9, None, &[(Arch::X86, 20), (Arch::X86_64, 5000)]);
        assert_eq!(store.flush(true).0, 2);
        assert!(store.is_written(7) && store.is_written(9));
        assert_eq!(store.odd_of(9), vec![(Arch::X86_64, 5000)]);
        fs::write(dir.join(".web.json.tmp.1"), "half").unwrap();
        fs::write(dir.join(".web.json.meta.tmp.1.7"), "half").unwrap();
        // Not ours: a file of another program that happens to look alike.
        fs::write(dir.join(".notes.txt.tmp.1.2"), "theirs").unwrap();
        fs::write(dir.join(".cache.tmp.x"), "theirs").unwrap();

        let mut again = Store::open(&dir, OutputFormat::Oci, DefaultAction::Errno(1));
        assert!(!dir.join(".web.json.tmp.1").exists());
        assert!(!dir.join(".web.json.meta.tmp.1.7").exists());
        assert!(dir.join(".notes.txt.tmp.1.2").exists());
        assert!(dir.join(".cache.tmp.x").exists());
        assert_eq!(again.workload_of(8), Some("web"));
        assert_eq!(again.workload_of(9), Some("cgroup-9"));
        assert!(!again.needs_place(8) && again.needs_place(9) && again.needs_place(10));
        again.observe(8, path(), &[(Arch::X86_64, 3)]);
        again.mark_removed(7);
        assert!(!again.is_written(7));
        assert_eq!(again.flush(true).0, 1);
        let profile = fs::read_to_string(dir.join("web.json")).unwrap();
        let parsed = crate::profile::parse(&profile, "web.json").unwrap().profile;
        // clone3 is the ENOSYS fallback rule every recorded profile has; the implied calls
        // are added as to every learned profile.
        let seen = ["read", "write", "open", "close"];
        let implied = crate::profile::implied::implied(&seen.into(), &[Arch::X86_64]);
        assert_eq!(
            parsed.names(),
            seen.into_iter()
                .chain(["clone3"])
                .chain(implied.into_keys())
                .collect()
        );
        let meta: Meta =
            serde_json::from_str(&fs::read_to_string(dir.join("web.json.meta")).unwrap()).unwrap();
        assert_eq!(meta.replicas.len(), 2);
        assert!(meta.replicas[0].removed);
        assert_eq!(meta.replicas[1].distinct, 2);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replicas_named_alike_share_one_workload() {
        let dir = scratch("replicas");
        let mut store = Store::open(&dir, OutputFormat::Oci, DefaultAction::Errno(1));
        let named = |cgroup: &str| Place {
            cgroup: cgroup.to_owned(),
            identity: Identity::default(),
            workload: "shop_web_app".to_owned(),
        };
        store.observe(1, Some(named("/a")), &[(Arch::X86_64, 0)]);
        store.observe(2, Some(named("/b")), &[(Arch::X86_64, 1)]);
        // Seen by id first, by path later: it stays where it was put.
        store.observe(3, None, &[(Arch::X86_64, 2)]);
        store.observe(3, Some(named("/c")), &[]);
        assert_eq!(store.workload_of(3), Some("cgroup-3"));
        assert_eq!(
            store.workloads["cgroup-3"].replicas[&3].cgroup.as_deref(),
            Some("/c")
        );
        let web = &store.workloads["shop_web_app"];
        assert_eq!(web.replicas.len(), 2);
        assert_eq!(web.syscalls().len(), 2);
        assert_eq!(web.replicas[&2].distinct, 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_profile_missing_beside_its_meta_is_written_again() {
        let dir = scratch("missing");
        let mut store = Store::open(&dir, OutputFormat::Kubelet, DefaultAction::Errno(1));
        store.observe(1, Some(Place::by_path("/a", "a")), &[(Arch::X86_64, 0)]);
        store.flush(true);
        fs::remove_file(dir.join("a.json")).unwrap();
        let mut again = Store::open(&dir, OutputFormat::Kubelet, DefaultAction::Errno(1));
        assert_eq!(again.flush(true).0, 1);
        assert!(dir.join("a.json").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_removed_directory_is_created_again_and_filled() {
        let dir = scratch("removed");
        let mut store = Store::open(&dir, OutputFormat::Oci, DefaultAction::Errno(1));
        for id in 1..=12 {
            let stem = format!("w{id}");
            store.observe(
                id,
                Some(Place::by_path(&stem, &stem)),
                &[(Arch::X86_64, id)],
            );
        }
        assert_eq!(store.flush(true).0, 12);
        fs::remove_dir_all(&dir).unwrap();
        // Only two change: all twelve are written again.
        store.observe(1, None, &[(Arch::X86_64, 100)]);
        store.observe(2, None, &[(Arch::X86_64, 100)]);
        let (written, errors) = store.flush(true);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(written, 12);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 24);
        // One file deleted: its workload is written again.
        fs::remove_file(dir.join("w5.json.meta")).unwrap();
        assert_eq!(store.flush(false).0, 0);
        assert_eq!(store.flush(true).0, 1);
        assert!(dir.join("w5.json.meta").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_meta_is_moved_aside() {
        let dir = scratch("corrupt");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("x.json.meta"), "{").unwrap();
        let store = Store::open(&dir, OutputFormat::Oci, DefaultAction::Errno(1));
        assert!(store.workloads.is_empty());
        assert!(dir.join("x.json.meta.unreadable").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
