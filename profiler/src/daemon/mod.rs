//! `profile daemon`: learn every cgroup below a root, continuously, one profile per workload on
//! disk, nothing ever lost.
//!
//! The kernel side (`ebpf::daemon`) keeps one bitmap of seen syscalls per cgroup id, pinned in
//! bpffs so it goes on counting while no daemon runs. This loop:
//! - every scan (1 s, or the flush interval when shorter): reads the kernel's marks of change
//!   (a handful of counters) and nothing else unless they moved: bitmaps only after a cgroup's
//!   first call of some syscall, denials only after a denial, and the whole tree (walked to
//!   name ids, and to find removed ones: after the read, so an id read but not found by the
//!   walk is really gone) only after a cgroup was removed or renamed, or when an id has no name
//!   yet. A daemon over a tree where nothing changes does the same small work whatever its
//!   size;
//! - for a cgroup that is gone: reads its entry once more (no task can add to it any more),
//!   writes its workload, and only once that is on disk frees its kernel entries;
//! - every flush interval, and on SIGTERM/SIGINT/SIGHUP: writes every changed workload.
//!
//! A write that fails (output directory missing, not writable, disk full) is logged and
//! counted, and tried again at the next flush; meanwhile what it holds stays in memory and in
//! the kernel.
//!
//! Denials come from the kernel's exit hook (read with the bitmaps, cumulative per cgroup) and
//! from seccomp's audit records ([`audit`], attributed to cgroups by pid); both are kept per
//! replica ([`denials`]) and turn into each workload's proposal, never into its profile.
pub mod audit;
pub mod control;
pub mod denials;
pub mod identity;
pub mod kubelet;
pub mod pins;
pub mod store;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io,
    net::SocketAddr,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use log::{error, info, warn};

use self::{
    audit::{AuditWatch, Batch},
    control::{AuditStatus, ControlError, DenialStatus, Shared, Status, WorkloadStatus},
    denials::{Observed, Source, Verdict},
    identity::Identity,
    kubelet::KubeletLogs,
    store::{OutputFormat, Place, Store},
};
use crate::{
    audit::{source::CgroupResolver, Record, RecordId, SourceChoice},
    cgroup::{self, Cgroup, TargetError, V2Mount},
    ebpf::{
        daemon::{
            self as kernel, DaemonLosses, DaemonMaps, DaemonSpec, KernelDenial, Marks, PinError,
            Started,
        },
        KERNEL_BTF,
    },
    profile::learn::DefaultAction,
    sys::{self, child, Signals},
    syscalls::Arch,
};

/// The longest time between two reads of the kernel maps and the cgroup tree.
const SCAN: Duration = Duration::from_secs(1);

pub struct DaemonOptions {
    /// None: the kubelet's pod cgroups, for either cgroup driver.
    pub root: Option<PathBuf>,
    pub out_dir: PathBuf,
    /// The kubelet's log directory (`containers/`, `pods/`), which names pods and containers.
    pub kubelet_logs: PathBuf,
    pub format: OutputFormat,
    pub default_action: DefaultAction,
    pub flush_interval: Duration,
    pub listen: Option<SocketAddr>,
    pub control_socket: PathBuf,
    pub pin_dir: PathBuf,
    pub after_seccomp: bool,
    pub max_cgroups: u32,
    pub max_odd: u32,
    pub max_denials: u32,
    /// Where seccomp's audit records are read from; `None`: not read.
    pub audit: Option<SourceChoice>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("the daemon needs root, or {0} (the eBPF programs cannot be loaded without it)")]
    Privileges(&'static str),
    #[error("cgroup root: {0}")]
    Root(#[from] TargetError),
    #[error("pins in {path}: {source}")]
    Bpffs { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Kernel(#[from] PinError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("no kubepods.slice (systemd cgroup driver) or kubepods (cgroupfs driver) below {0}: not a Kubernetes node? Pass --cgroup-root")]
    NoKubepods(PathBuf),
}

/// The kubelet's pod cgroups: `kubepods.slice` with the systemd cgroup driver, `kubepods` with
/// cgroupfs.
const KUBEPODS: [&str; 2] = ["kubepods.slice", "kubepods"];

fn kubepods(mount: &cgroup::V2Mount) -> Result<Cgroup, DaemonError> {
    KUBEPODS
        .iter()
        .find_map(|name| Cgroup::resolve(Path::new(name), mount).ok())
        .ok_or_else(|| DaemonError::NoKubepods(mount.path.clone()))
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// `profile daemon --unpin`: removes every pinned set below `pin_dir`, which detaches its
/// program; returns the sets removed.
pub fn unpin(pin_dir: &Path) -> Result<Vec<PathBuf>, DaemonError> {
    Ok(kernel::unpin_all(pin_dir)?)
}

/// Runs until SIGTERM/SIGINT/SIGHUP; returns the exit code.
pub async fn run(options: &DaemonOptions, signals: Signals) -> Result<i32, DaemonError> {
    if let Some(cap) = sys::missing_bpf_capability().map_err(io_err("reading capabilities"))? {
        return Err(DaemonError::Privileges(cap));
    }
    let mount = cgroup::v2_mount()?;
    let root = match &options.root {
        Some(root) => Cgroup::resolve(root, &mount)?,
        None => kubepods(&mount)?,
    };
    pins::ensure_bpffs(&options.pin_dir).map_err(|source| DaemonError::Bpffs {
        path: options.pin_dir.clone(),
        source,
    })?;
    let signal_fd = child::poll_readable(signals).map_err(io_err("polling signals"))?;
    let Some(_lock) = lock_pins(&options.pin_dir, &signal_fd).await? else {
        return Ok(0);
    };
    // Before anything is loaded: a daemon that may not answer here does not touch the pins.
    let status: Shared = Arc::new(Mutex::new(Status {
        pid: std::process::id(),
        root: root.path.display().to_string(),
        out_dir: options.out_dir.display().to_string(),
        pin_dir: kernel::set_dir(&options.pin_dir).display().to_string(),
        ..Status::default()
    }));
    let _control = control::serve_control(&options.control_socket, status.clone()).await?;
    let spec = DaemonSpec {
        root_id: root.id,
        root_level: root.level,
        after_seccomp: options.after_seccomp,
        max_cgroups: options.max_cgroups,
        max_odd: options.max_odd,
        max_denials: options.max_denials,
    };
    let (maps, started) = kernel::start(&options.pin_dir, KERNEL_BTF.as_ref(), &spec)?;
    let adopted = started == Started::Adopted;
    // Programs loaded now count what already runs only from now on: those cgroups' replicas are
    // partial. Adopted programs counted all along.
    let running_before: BTreeSet<u64> = match started {
        Started::Adopted => BTreeSet::new(),
        Started::Loaded | Started::Replaced(_) => cgroup::walk(&root.path)?
            .into_iter()
            .filter(|(rel, _)| {
                let cgroup = root.path.join(rel);
                !cgroup::processes_here(&cgroup).is_empty()
            })
            .map(|(_, id)| id)
            .chain((!cgroup::processes_here(&root.path).is_empty()).then_some(root.id))
            .collect(),
    };
    if !running_before.is_empty() {
        warn!(
            "{} cgroup(s) below the root already run: their start-up is not in their profiles, \
             which are marked partial; start the daemon before the workloads (a DaemonSet starts \
             with the node) or restart them",
            running_before.len()
        );
    }
    let started = match started {
        Started::Adopted => "adopted the pinned programs (counting went on meanwhile)".to_owned(),
        Started::Loaded => "loaded and pinned the programs".to_owned(),
        Started::Replaced(why) => {
            warn!("replaced the pinned programs ({why}); what they counted since the last flush is lost");
            format!("replaced pinned programs ({why})")
        }
    };
    {
        let mut status = status.lock().expect("status lock");
        status.started = started.clone();
        status.map_capacity = maps.max_cgroups;
        status.map_memory = maps.seen_memory;
    }
    let mut store = Store::open(&options.out_dir, options.format, options.default_action);
    store.running_before(running_before);
    if !adopted {
        store.maps_replaced();
    }
    let (audit, audit_error) = match &options.audit {
        None => (None, None),
        Some(choice) => match AuditWatch::start(choice) {
            Ok(watch) => {
                info!("reading seccomp's audit records from {}", watch.source);
                (Some(watch), None)
            }
            Err(err) => {
                warn!(
                    "not reading seccomp's audit records ({err:#}): denials are seen by the \
                     kernel hook alone (no executable names, no calls that killed their caller)"
                );
                (None, Some(format!("{err:#}")))
            }
        },
    };
    if let Err(err) = crate::output::check_dir_writable(&options.out_dir) {
        error!("{err}: the output directory is not writable; learning goes on and writes are retried at every flush");
    }
    if let Some(addr) = options.listen {
        if !addr.ip().is_loopback() {
            info!("--listen {addr} is not a loopback address: metrics are visible to the network");
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(io_err(format!("--listen {addr}")))?;
        control::serve_metrics(listener, status.clone());
    }
    info!(
        "daemon: {started}; recording every cgroup below {} (id {}, level {}) into {}, flushing every {}",
        root.path.display(),
        root.id,
        root.level,
        options.out_dir.display(),
        humantime::format_duration(options.flush_interval)
    );
    let mut daemon = Daemon {
        root,
        maps,
        store,
        status,
        pending: BTreeSet::new(),
        reported: DaemonLosses::default(),
        flushes: 0,
        written: 0,
        write_errors: 0,
        scans: 0,
        last_scan: 0,
        last_error: None,
        tracked: 0,
        names: BTreeMap::new(),
        marks: None,
        bitmap_reads: 0,
        walks: 0,
        status_stale: true,
        merged: Default::default(),
        kubelet: KubeletLogs::new(&options.kubelet_logs),
        kubelet_state: None,
        mount,
        cgroups: CgroupResolver::new(),
        audit_status: AuditStatus {
            source: audit.as_ref().map(|watch| watch.source.clone()),
            error: audit_error,
            ..AuditStatus::default()
        },
        kernel_lost_at_start: crate::audit::source::kernel_lost().ok(),
        audit,
        audit_dropped: 0,
    };
    daemon.reload_kubelet_logs();
    let mut scan = tokio::time::interval(SCAN.min(options.flush_interval));
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flush = tokio::time::interval(options.flush_interval);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = scan.tick() => daemon.scan(),
            _ = flush.tick() => daemon.flush(true),
            guard = signal_fd.readable() => {
                let mut guard = guard.map_err(io_err("polling signals"))?;
                if let Some(sig) = signal_fd.get_ref().read().map_err(io_err("reading signals"))? {
                    info!("signal {}: writing every profile and leaving the programs pinned", sig.signo);
                    break;
                }
                guard.clear_ready();
            }
        }
    }
    daemon.scan();
    daemon.flush(true);
    let unwritten: Vec<&str> = daemon
        .store
        .workloads
        .iter()
        .filter(|(_, w)| w.dirty)
        .map(|(name, _)| name.as_str())
        .collect();
    Ok(if unwritten.is_empty() {
        0
    } else {
        error!(
            "{} profile(s) could not be written ({}); what the kernel maps hold of them stays there for the next daemon",
            unwritten.len(),
            unwritten.join(", ")
        );
        1
    })
}

/// How often a daemon waiting for the pins checks whether the other one has stopped.
const LOCK_POLL: Duration = Duration::from_millis(200);

/// Takes the pin directory for this daemon, waiting while another daemon holds it (an update
/// that starts the new daemon before the old one stopped: the kernel counts meanwhile, and the
/// new one adopts the pins once the old one has written its profiles). `None` when a stop signal
/// came first.
async fn lock_pins(
    pin_dir: &Path,
    signal_fd: &tokio::io::unix::AsyncFd<Signals>,
) -> Result<Option<pins::PinLock>, DaemonError> {
    let mut said = false;
    loop {
        let held = pins::try_lock(pin_dir).map_err(|source| DaemonError::Bpffs {
            path: pin_dir.to_owned(),
            source,
        })?;
        if let Some(lock) = held {
            if said {
                info!(
                    "the other daemon has stopped: taking over {}",
                    pin_dir.display()
                );
            }
            return Ok(Some(lock));
        }
        if !said {
            warn!(
                "another daemon holds {}: waiting until it stops (its programs keep counting)",
                pin_dir.display()
            );
            said = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(LOCK_POLL) => {}
            guard = signal_fd.readable() => {
                let mut guard = guard.map_err(io_err("polling signals"))?;
                if let Some(sig) = signal_fd.get_ref().read().map_err(io_err("reading signals"))? {
                    info!("signal {} while waiting for the pins: nothing learned, nothing to write", sig.signo);
                    return Ok(None);
                }
                guard.clear_ready();
            }
        }
    }
}

/// What can fail while the daemon runs, each retried on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trouble {
    Scan,
    Walk,
    Write,
    Free,
}

struct Daemon {
    root: Cgroup,
    maps: DaemonMaps,
    store: Store,
    status: Shared,
    /// Removed cgroups whose kernel entries are freed once their workload is on disk.
    pending: BTreeSet<u64>,
    reported: DaemonLosses,
    flushes: u64,
    written: u64,
    write_errors: u64,
    scans: u64,
    /// When the last scan that worked ended (seconds since the epoch): `/healthz` fails once
    /// scans stop working.
    last_scan: u64,
    /// The error the status shows, until what failed works again.
    last_error: Option<(Trouble, String)>,
    tracked: usize,
    /// What the last walk found: id → (path with the root's name, path below the root).
    names: BTreeMap<u64, (String, String)>,
    /// The kernel's marks of change as the last scan read them (`None`: read everything).
    marks: Option<Marks>,
    bitmap_reads: u64,
    walks: u64,
    /// Whether the store changed since the status's list of workloads was made.
    status_stale: bool,
    /// How many bits each id's bitmap had when last merged, so an unchanged one costs a count (no
    /// decoding).
    merged: HashMap<u64, u32>,
    kubelet: KubeletLogs,
    /// The scan of the last read of the kubelet's logs, and whether it could read them.
    kubelet_state: Option<(u64, bool)>,
    mount: V2Mount,
    /// pid → cgroup, for audit records.
    cgroups: CgroupResolver,
    audit: Option<AuditWatch>,
    audit_status: AuditStatus,
    /// The kernel's count of lost audit records when the daemon started (when it tells).
    kernel_lost_at_start: Option<u32>,
    /// Audit records of denials not kept because a batch was full.
    audit_dropped: u64,
}

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
    /// One scan; what fails is logged and tried again at the next one, and everything learned
    /// so far stays (in memory, in the kernel maps).
    fn scan(&mut self) {
        match self.try_scan() {
            Ok(()) => {
                self.resolved(Trouble::Scan);
                self.last_scan = control::unix_now();
            }
            Err(err) => self.note_error(
                Trouble::Scan,
                format!("scan: {}", crate::output::error_chain(&err)),
            ),
        }
        self.update_status(self.tracked);
    }

    /// Logs `text` (once while the same error repeats) and shows it in the status until what
    /// failed works again.
    fn note_error(&mut self, trouble: Trouble, text: String) {
        if self
            .last_error
            .as_ref()
            .is_none_or(|(_, last)| *last != text)
        {
            error!("{text}");
        }
        self.last_error = Some((trouble, text));
    }

    /// What failed as `trouble` works again: its error leaves the status.
    fn resolved(&mut self, trouble: Trouble) {
        if self.last_error.as_ref().is_some_and(|(t, _)| *t == trouble) {
            if let Some((_, was)) = self.last_error.take() {
                info!("recovered from: {was}");
            }
        }
    }

    fn try_scan(&mut self) -> Result<(), DaemonError> {
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

    /// The audit thread's batch, its denials placed in cgroups below the root: by the pid's
    /// cgroup when the record arrived (the cgroup's id is its directory's inode, or the last
    /// walk's when it is gone), or, for a process already gone, by the exit hook's last denied
    /// process of the same syscall. Denials elsewhere on the machine are not this daemon's.
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

    /// The denials of `batch` below the root, by cgroup id.
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

    fn reload_kubelet_logs(&mut self) {
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

    /// Frees the kernel entries of removed cgroups whose profiles are on disk.
    fn forget_written(&mut self) -> Result<(), DaemonError> {
        let written: Vec<u64> = self
            .pending
            .iter()
            .copied()
            .filter(|id| self.store.is_written(*id))
            .collect();
        for id in written {
            self.maps
                .forget(id, &self.store.odd_of(id), &self.store.denied_of(id))?;
            self.pending.remove(&id);
            self.merged.remove(&id);
            // The count of entries the status shows is read again.
            self.marks = None;
        }
        Ok(())
    }

    /// Writes what changed (with `verify`, also what is missing from disk).
    fn flush(&mut self, verify: bool) {
        self.flushes += 1;
        let (written, errors) = self.store.flush(verify);
        self.status_stale |= written > 0 || !errors.is_empty();
        self.written += written as u64;
        self.write_errors += errors.len() as u64;
        if let Some(first) = errors.first() {
            self.note_error(
                Trouble::Write,
                format!(
                    "writing {} profile(s) failed, kept for the next flush; first: {}: {}",
                    errors.len(),
                    first.workload,
                    first.error
                ),
            );
        } else if self.store.workloads.values().all(|w| !w.dirty) {
            self.resolved(Trouble::Write);
        }
        match self.forget_written() {
            Ok(()) => self.resolved(Trouble::Free),
            Err(err) => self.note_error(
                Trouble::Free,
                format!(
                    "freeing kernel entries of removed cgroups: {}",
                    crate::output::error_chain(&err)
                ),
            ),
        }
        self.update_status(self.tracked);
    }

    fn report_losses(&mut self) -> Result<(), DaemonError> {
        let losses = self.maps.losses()?;
        if losses.seen_full > self.reported.seen_full {
            error!(
                "the kernel map of cgroups is full ({} entries, --max-cgroups): {} calls of new cgroups were not counted",
                self.maps.max_cgroups,
                losses.seen_full - self.reported.seen_full
            );
        }
        if losses.odd_full > self.reported.odd_full {
            error!(
                "the table of out-of-table syscall numbers is full ({} entries, --max-odd): {} not kept",
                self.maps.max_odd,
                losses.odd_full - self.reported.odd_full
            );
        }
        if losses.denied_full > self.reported.denied_full {
            error!(
                "the kernel map of denials is full ({} entries, --max-denials): {} denied calls of new (cgroup, syscall) pairs were not counted",
                self.maps.max_denials,
                losses.denied_full - self.reported.denied_full
            );
        }
        if losses.read_failed > self.reported.read_failed {
            error!(
                "{} kernel reads failed; some calls may be counted under the wrong ABI",
                losses.read_failed - self.reported.read_failed
            );
        }
        self.reported = losses;
        Ok(())
    }

    /// The status's counters, and its list of workloads when the store changed since (so a scan
    /// that found nothing new costs nothing per workload).
    fn update_status(&mut self, map_entries: usize) {
        let mut status = self.status.lock().expect("status lock");
        status.cgroups_tracked = map_entries;
        status.map_entries = map_entries;
        status.scans = self.scans;
        status.bitmap_reads = self.bitmap_reads;
        status.walks = self.walks;
        status.tree_changes = self.marks.map_or(status.tree_changes, |marks| marks.tree);
        status.last_scan = self.last_scan;
        status.flushes = self.flushes;
        status.profiles_written = self.written;
        status.write_errors = self.write_errors;
        status.last_error = self.last_error.as_ref().map(|(_, text)| text.clone());
        status.lost_map_full = self.reported.seen_full;
        status.lost_odd_full = self.reported.odd_full;
        status.read_failures = self.reported.read_failed;
        status.denials_lost = self.reported.denied_full + self.audit_dropped;
        status.audit = self.audit_status.clone();
        if !std::mem::take(&mut self.status_stale) {
            return;
        }
        status.workloads = self.store.workloads.len();
        status.syscalls_seen = self
            .store
            .workloads
            .values()
            .flat_map(|w| w.replicas.values())
            .map(|r| r.distinct)
            .sum();
        status.workload_list = self
            .store
            .workloads
            .iter()
            .map(|(name, w)| WorkloadStatus {
                name: name.clone(),
                kubernetes: w.replicas.values().find_map(|r| r.identity.workload_key()),
                replicas: w.replicas.len(),
                live: w.replicas.values().filter(|r| !r.removed).count(),
                partial: w.replicas.values().filter(|r| r.partial).count(),
                syscalls: w.syscalls().len(),
                written: !w.dirty,
                denials: if w.has_denials() {
                    self.denial_status(name)
                } else {
                    Vec::new()
                },
                proposal: w.proposed.then(|| {
                    let path = self.store.proposal_path(name);
                    path.display().to_string()
                }),
            })
            .collect();
        let (calls, syscalls) = status
            .workload_list
            .iter()
            .flat_map(|w| &w.denials)
            .filter(|d| !d.expected())
            .fold((0, 0), |(calls, syscalls), d| {
                (calls + d.count, syscalls + 1)
            });
        status.denied_calls = calls;
        status.denied_syscalls = syscalls;
    }

    /// A workload's denials, judged against its profile.
    fn denial_status(&self, stem: &str) -> Vec<DenialStatus> {
        let Some(judged) = self.store.judge(stem) else {
            return Vec::new();
        };
        judged
            .denials
            .iter()
            .map(|denial| {
                let last = denial.last_call();
                let (verdict, why) = match &denial.verdict {
                    Verdict::Added => ("added", None),
                    Verdict::Expected(why) => ("expected", Some(why.clone())),
                    Verdict::NotAdded(why) => ("not added", Some(why.clone())),
                };
                let mut seen_by: Vec<String> = denial
                    .replicas
                    .iter()
                    .flat_map(|(_, d)| d.seen_by())
                    .map(str::to_owned)
                    .collect();
                seen_by.sort();
                seen_by.dedup();
                DenialStatus {
                    syscall: denial.name(),
                    arch: denial.arch.short_name().to_owned(),
                    count: denial.count,
                    first: denials::format_time(denial.first),
                    last: denials::format_time(denial.last),
                    pid: last.map_or(0, |d| d.pid),
                    comm: last.map(|d| d.comm.clone()).unwrap_or_default(),
                    action: last.map(|d| d.action.clone()).unwrap_or_default(),
                    verdict: verdict.to_owned(),
                    why,
                    seen_by,
                }
            })
            .collect()
    }
}
