//! One scan of the kernel maps and the cgroup tree, and where what it finds belongs: cgroup ids
//! named by the walk (pods by the kubelet's logs), audit records placed in the cgroups below the
//! root.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io,
    os::unix::fs::MetadataExt as _,
};

use log::{error, info};

use super::{
    audit::Batch,
    denials::{self, Observed, Source},
    identity::Identity,
    kubelet::KubeletLogs,
    store::Place,
    Daemon, DaemonError, Trouble,
};
use crate::{
    audit::{Record, RecordId},
    cgroup,
    ebpf::daemon::{self as kernel, KernelDenial},
    syscalls::Arch,
};

/// One scan's clocks: the exit hook stamps calls with CLOCK_BOOTTIME.
struct Clocks {
    boot_ns: u64,
    unix_ms: u64,
}

impl Clocks {
    fn now() -> Clocks {
        let mut boot = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid clock and timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut boot) };
        Clocks {
            boot_ns: boot.tv_sec as u64 * 1_000_000_000 + boot.tv_nsec as u64,
            unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    /// Milliseconds since the epoch of a CLOCK_BOOTTIME stamp.
    fn unix_ms(&self, boot_ns: u64) -> u64 {
        self.unix_ms
            .saturating_sub(self.boot_ns.saturating_sub(boot_ns) / 1_000_000)
    }
}

/// What the kernel's exit hook counted, as an observation.
fn kernel_observed(denial: &KernelDenial, clocks: &Clocks) -> Observed {
    let d = &denial.denial;
    let comm_len = d.comm.iter().position(|&b| b == 0).unwrap_or(d.comm.len());
    Observed {
        arch: denial.abi,
        nr: denial.nr,
        source: Source::Kernel { total: d.count },
        first: clocks.unix_ms(d.first_ns),
        last: clocks.unix_ms(d.last_ns),
        pid: d.tgid,
        comm: String::from_utf8_lossy(&d.comm[..comm_len]).into_owned(),
        exe: None,
        action: denials::action_of_return(d.ret),
    }
}

impl Daemon {
    pub(super) fn try_scan(&mut self) -> Result<(), DaemonError> {
        self.scans += 1;
        // The marks first, then the maps, then the tree: a change after the marks were read
        // shows in the next scan, and an id read here and missing from the walk is gone.
        let marks = self.maps.marks()?;
        let last = self.marks.replace(marks);
        // A changed tree is walked, and every id read, so that every removal is seen.
        let tree = last.is_none_or(|last| last.tree != marks.tree);
        let new = tree || last.is_none_or(|last| last.new != marks.new);
        let seen = if new {
            self.bitmap_reads += 1;
            self.maps.seen()?
        } else {
            Vec::new()
        };
        let mut odd: BTreeMap<u64, Vec<(Arch, u64)>> = BTreeMap::new();
        if new {
            for (id, abi, nr) in self.maps.odd()? {
                odd.entry(id).or_default().push((abi, nr));
            }
        }
        let clocks = Clocks::now();
        let batch = self.audit_batch();
        // Audit records are attributed with the kernel's denials when their process is gone.
        let kernel_denied = if tree
            || last.is_none_or(|last| last.denied != marks.denied)
            || batch
                .as_ref()
                .is_some_and(|batch| !batch.denials.is_empty())
        {
            self.maps.denied()?
        } else {
            Vec::new()
        };
        let denied: Vec<(u64, Observed)> = kernel_denied
            .iter()
            .map(|denial| (denial.cgroup, kernel_observed(denial, &clocks)))
            .collect();
        let audited = batch.map_or_else(Vec::new, |batch| self.place_audit(batch, &kernel_denied));
        let ids: BTreeSet<u64> = seen
            .iter()
            .map(|(id, _)| *id)
            .chain(odd.keys().copied())
            .chain(denied.iter().chain(&audited).map(|(id, _)| *id))
            .collect();
        let walk = tree || ids.iter().any(|id| !self.names.contains_key(id));
        // A walk that fails tells nothing: no id is taken for gone (nor named) until one
        // succeeds.
        let walked = if walk {
            self.walks += 1;
            // Without its root (removed, or replaced by another cgroup of the same path) every
            // cgroup below is gone; an error of the walk itself is no such news.
            let root_gone = match std::fs::metadata(&self.root.path) {
                Err(err) => err.kind() == io::ErrorKind::NotFound,
                Ok(meta) => meta.ino() != self.root.id,
            };
            let found = if root_gone {
                Ok(BTreeMap::new())
            } else {
                cgroup::walk(&self.root.path)
            };
            match &found {
                Ok(found) => {
                    self.names = found
                        .iter()
                        .map(|(rel, id)| {
                            let below_root = rel.display().to_string();
                            (*id, (self.full_name(&below_root), below_root))
                        })
                        .collect();
                    if !root_gone {
                        self.names
                            .insert(self.root.id, (self.root.name.clone(), String::new()));
                    }
                    self.resolved(Trouble::Walk);
                }
                Err(err) => {
                    // Everything again at the next scan, until a walk works.
                    self.marks = None;
                    self.note_error(
                        Trouble::Walk,
                        format!(
                            "walking the cgroup tree: {}; removals are noticed once it works again",
                            crate::output::error_chain(err)
                        ),
                    )
                }
            }
            found.is_ok()
        } else {
            false
        };
        if new {
            self.tracked = seen.len();
        }
        // A new cgroup the failed walk would have named waits in the kernel map for the next
        // walk, rather than being named after its id for good.
        let unnamed = |daemon: &Daemon, id: u64| {
            walk && !walked
                && !daemon.names.contains_key(&id)
                && daemon.store.workload_of(id).is_none()
        };
        for (id, bitmap) in seen {
            // A bitmap only gains bits while its entry lives: its count tells a change.
            let bits = bitmap.bits.iter().map(|word| word.count_ones()).sum();
            if self.merged.get(&id) != Some(&bits) && !unnamed(self, id) {
                self.observe(id, &kernel::syscalls_of(&bitmap));
                self.merged.insert(id, bits);
            }
        }
        for (id, syscalls) in &odd {
            if !unnamed(self, *id) {
                self.observe(*id, syscalls);
            }
        }
        // After the bitmaps: a call the cgroup made is not a denial (see `observe_denial`).
        for (id, observed) in &denied {
            if !unnamed(self, *id) {
                self.observe_denial(*id, observed);
            }
        }
        // Audit records are not kept anywhere else: taken whether or not the walk worked.
        for (id, observed) in &audited {
            self.observe_denial(*id, observed);
        }
        let gone: BTreeSet<u64> = if walked {
            ids.into_iter()
                .filter(|id| !self.names.contains_key(id))
                .collect()
        } else {
            BTreeSet::new()
        };
        if !gone.is_empty() {
            // Their last denials, counted after the read above.
            let last: Vec<KernelDenial> = self.maps.denied()?;
            for denial in last.iter().filter(|d| gone.contains(&d.cgroup)) {
                self.observe_denial(denial.cgroup, &kernel_observed(denial, &clocks));
            }
            for &id in &gone {
                // Its last calls, made after the read above.
                if let Some(syscalls) = self.maps.seen_of(id)? {
                    self.observe(id, &syscalls);
                }
                self.store.mark_removed(id);
                self.pending.insert(id);
            }
            info!("{} cgroup(s) removed: writing their profiles", gone.len());
            self.flush(false);
        }
        self.forget_written()?;
        self.report_losses()?;
        if new {
            // A full read borrows a few MiB for a moment (400 bytes per cgroup); give them back
            // rather than keep them for the next change, which may be hours away.
            // SAFETY: malloc_trim only releases free memory.
            unsafe { libc::malloc_trim(0) };
        }
        Ok(())
    }

    fn full_name(&self, below_root: &str) -> String {
        format!("{}/{below_root}", self.root.name.trim_end_matches('/'))
    }

    fn observe(&mut self, id: u64, syscalls: &[(Arch, u64)]) {
        self.status_stale = true;
        let place = self.place_if_needed(id);
        self.store.observe(id, place, syscalls);
    }

    fn observe_denial(&mut self, id: u64, observed: &Observed) {
        self.status_stale = true;
        let place = self.place_if_needed(id);
        self.store.observe_denial(id, place, observed);
    }

    fn place_if_needed(&mut self, id: u64) -> Option<Place> {
        if self.store.needs_place(id) {
            self.place(id)
        } else {
            None
        }
    }

    /// The audit records gathered since the last scan, counted in the status.
    fn audit_batch(&mut self) -> Option<Batch> {
        let watch = self.audit.as_ref()?;
        let batch: Batch = watch.take();
        if let Some(failure) = watch.failure() {
            error!("reading seccomp's audit records stopped: {failure}");
            self.audit_status.error = Some(failure);
            self.audit = None;
        }
        let status = &mut self.audit_status;
        status.records += batch.records;
        status.lost += batch.lost();
        status.malformed += batch.malformed;
        self.audit_dropped += batch.dropped;
        if let Some(start) = self.kernel_lost_at_start {
            if let Ok(now) = crate::audit::source::kernel_lost() {
                status.kernel_lost = Some(u64::from(now.wrapping_sub(start)));
            }
        }
        Some(batch)
    }

    /// The denials of `batch` placed in cgroups below the root: by the pid's cgroup when the
    /// record arrived (the cgroup's id is its directory's inode, or the last walk's when it is
    /// gone), or, for a process already gone, by the exit hook's last denied process of the same
    /// syscall. Denials elsewhere on the machine are not this daemon's.
    fn place_audit(&mut self, batch: Batch, kernel: &[KernelDenial]) -> Vec<(u64, Observed)> {
        let root = self.root.name.trim_end_matches('/').to_owned();
        let by_process: HashMap<(u32, Arch, u64), u64> = kernel
            .iter()
            .map(|d| ((d.denial.tgid, d.abi, d.nr), d.cgroup))
            .collect();
        let mut placed = Vec::new();
        for (key, calls) in batch.denials {
            let record = Record {
                id: RecordId {
                    millis: calls.first,
                    serial: 0,
                },
                pid: key.pid,
                comm: calls.comm.clone(),
                exe: calls.exe.clone(),
                arch: key.arch,
                nr: key.nr,
                action: key.action,
            };
            let id = match self
                .cgroups
                .resolve(&record)
                .and_then(|path| self.mount.below(&path))
            {
                Some(below) => {
                    let name = format!("/{}", below.display());
                    if !(name == self.root.name || name.starts_with(&format!("{root}/"))) {
                        continue;
                    }
                    std::fs::metadata(self.mount.path.join(&below))
                        .map(|meta| meta.ino())
                        .ok()
                        .or_else(|| {
                            self.names
                                .iter()
                                .find(|(_, (full, _))| *full == name)
                                .map(|(id, _)| *id)
                        })
                }
                None => by_process.get(&(key.pid, key.arch, key.nr)).copied(),
            };
            let Some(id) = id else {
                self.audit_status.unattributed += calls.count;
                continue;
            };
            placed.push((
                id,
                Observed {
                    arch: key.arch,
                    nr: key.nr,
                    source: Source::Audit {
                        records: calls.count,
                    },
                    first: calls.first,
                    last: calls.last,
                    pid: key.pid,
                    comm: calls.comm.unwrap_or_default(),
                    exe: calls.exe,
                    action: key.action.to_string(),
                },
            ));
        }
        placed
    }

    /// Where cgroup `id` is, and its workload: `<namespace>_<owner>_<container>` when the
    /// kubelet's logs name its pod, otherwise its path below the root.
    fn place(&mut self, id: u64) -> Option<Place> {
        let (full, below) = self.names.get(&id)?;
        let below = if below.is_empty() { full } else { below };
        let mut place = Place::by_path(full, below);
        if place.identity.pod_uid.is_some() {
            if let Some(workload) = self.name_pod(&mut place.identity) {
                place.workload = workload;
            }
        }
        Some(place)
    }

    /// Names a pod's cgroup from the kubelet's logs, read again (at most once a scan) when they
    /// do not know it yet; returns its workload's stem.
    fn name_pod(&mut self, identity: &mut Identity) -> Option<String> {
        let lookup = |logs: &KubeletLogs| {
            logs.lookup(
                identity.container_id.as_deref(),
                identity.pod_uid.as_deref(),
            )
        };
        let names = match lookup(&self.kubelet) {
            Some(names) => names,
            None if self
                .kubelet_state
                .is_none_or(|(scan, _)| scan != self.scans) =>
            {
                self.reload_kubelet_logs();
                lookup(&self.kubelet)?
            }
            None => return None,
        };
        Some(identity.name(names))
    }

    pub(super) fn reload_kubelet_logs(&mut self) {
        let result = self.kubelet.reload();
        let was = self.kubelet_state.map(|(_, ok)| ok);
        match &result {
            Ok(()) if was != Some(true) => info!(
                "naming pods from the kubelet's logs in {}",
                self.kubelet.dir().display()
            ),
            Err(err) if was != Some(false) => info!(
                "no kubelet logs in {} ({err}): pods are named by their cgroup path",
                self.kubelet.dir().display()
            ),
            _ => {}
        }
        self.kubelet_state = Some((self.scans, result.is_ok()));
    }
}
