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
mod scan;
mod status;
pub mod store;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use log::{error, info, warn};

use self::{
    audit::AuditWatch,
    control::{AuditStatus, ControlError, Shared, Status},
    kubelet::KubeletLogs,
    store::{OutputFormat, Store},
};
use crate::{
    audit::{source::CgroupResolver, SourceChoice},
    cgroup::{self, Cgroup, TargetError, V2Mount},
    ebpf::{
        daemon::{self as kernel, DaemonLosses, DaemonMaps, DaemonSpec, Marks, PinError, Started},
        KERNEL_BTF,
    },
    profile::learn::DefaultAction,
    sys::{self, child, Signals},
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

impl Daemon {
    /// One scan; what fails is logged and tried again at the next one, and everything learned
    /// so far stays (in memory, in the kernel maps).
    fn scan(&mut self) {
        match self.try_scan() {
            Ok(()) => {
                self.resolved(Trouble::Scan);
                self.last_scan = control::unix_now();
            }
            Err(err) => {
                // The marks were taken before the read that failed: everything again next time.
                self.marks = None;
                self.note_error(
                    Trouble::Scan,
                    format!("scan: {}", crate::output::error_chain(&err)),
                )
            }
        }
        self.update_status(self.tracked);
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
}
