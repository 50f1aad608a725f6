//! Recording something that already runs: a process tree (`--pid`), a cgroup and its
//! descendants (`--cgroup`, `--container`), or every cgroup that appears below a root
//! (`--cgroup-root`), until a duration, a stop signal, or the target is gone.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::Write as _,
    os::fd::{AsRawFd, OwnedFd},
    path::{Path, PathBuf},
    time::Duration,
};

use log::{error, info, warn};
use tokio::time::Instant;

use super::session::{
    check_destination, io_err, progress_ticks, report_and_write, report_losses, Destination,
    RecordError, RecordOptions,
};
use crate::{
    cgroup::{self, Cgroup, TargetError},
    ebpf::{CgroupMode, Tracer, TracerConfig, KERNEL_BTF},
    output::{progress::Progress, recording::Format},
    recording::Recording,
    sys::{self, child, Signals},
};

/// How often the target is checked for being gone, and a cgroup root walked for new cgroups.
const POLL: Duration = Duration::from_millis(50);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A process (all its threads) and its future children.
    Pid(u32),
    /// A cgroup v2 directory (absolute, or relative to the v2 mount) and its descendants.
    Cgroup(PathBuf),
    /// A container's cgroup, by full id, unique prefix or name.
    Container(String),
    /// A container that is not there yet, counted from its first call once its cgroup
    /// appears (for runtimes without hooks: containerd, Docker, runc).
    WaitForContainer(String),
    /// One profile per cgroup that appears below `root`, written to `out_dir`.
    CgroupRoot { root: PathBuf, out_dir: PathBuf },
}

pub struct TargetOptions {
    pub target: Target,
    pub duration: Option<Duration>,
    /// Written to (one byte) once the programs count the target: `profile hook` lets the
    /// runtime go on only then.
    pub ready: Option<OwnedFd>,
    /// Single targets: `output` is where the profile goes (`--cgroup-root` writes to its
    /// directory).
    pub record: RecordOptions,
}

/// What the tracer was pointed at, resolved.
enum Resolved {
    Process { tgid: u32, exited: OwnedFd },
    Cgroup(Cgroup),
    Root { root: Cgroup, out_dir: PathBuf },
    Waiting(Wait),
}

/// A container waited for: every cgroup is counted (below the v2 root) until its own appears.
struct Wait {
    query: String,
    mount: cgroup::V2Mount,
    root: Cgroup,
    found: Option<Cgroup>,
    /// The container's cgroup id and those of its sub-cgroups, as seen.
    members: BTreeSet<u64>,
}

impl Wait {
    /// Looks for the container once more; an error only when the query is ambiguous.
    fn look(&mut self) -> Result<(), RecordError> {
        if self.found.is_none() {
            match cgroup::locate_container(&self.query, &self.mount) {
                Ok(rel) => {
                    let cgroup = Cgroup::resolve(&rel, &self.mount)?;
                    info!(
                        "container {} appeared: recording cgroup {}",
                        self.query,
                        cgroup.path.display()
                    );
                    self.found = Some(cgroup);
                }
                Err(TargetError::NoContainer { .. }) => return Ok(()),
                Err(err) => return Err(err.into()),
            }
        }
        if let Some(cgroup) = &self.found {
            self.members.insert(cgroup.id);
            // A walk that fails now misses no member for good: the next look finds it.
            if let Ok(below) = cgroup::walk(&cgroup.path) {
                self.members.extend(below.into_values());
            }
        }
        Ok(())
    }
}

/// Records `options.target` and writes what it did. Returns 0: there is no command status.
pub async fn record_target(options: &TargetOptions, signals: Signals) -> Result<i32, RecordError> {
    if let Some(cap) = sys::missing_bpf_capability().map_err(io_err("reading capabilities"))? {
        return Err(RecordError::Privileges(cap));
    }
    let mut resolved = resolve(&options.target)?;
    check_destination(&options.record.output)?;
    let cgroups = match &resolved {
        Resolved::Process { .. } => CgroupMode::None,
        Resolved::Cgroup(cgroup) => CgroupMode::Targets {
            level: cgroup.level,
        },
        Resolved::Root { root, .. } | Resolved::Waiting(Wait { root, .. }) => CgroupMode::Root {
            level: root.level,
            id: root.id,
        },
    };
    let config = TracerConfig {
        cgroups,
        after_seccomp: options.record.after_seccomp,
        args: options.record.args,
    };
    let mut tracer = Tracer::load(KERNEL_BTF.as_ref(), &config)?;
    let mut known = BTreeMap::new();
    let mut existing = BTreeSet::new();
    match &mut resolved {
        Resolved::Process { tgid, .. } => {
            tracer.watch(*tgid)?;
            info!("recording process {tgid} and its future children");
        }
        Resolved::Cgroup(cgroup) => {
            tracer.watch_cgroup(cgroup.id)?;
            info!(
                "recording cgroup {} (id {}, level {})",
                cgroup.path.display(),
                cgroup.id,
                cgroup.level
            );
            if cgroup.populated().unwrap_or(false) {
                warn!(
                    "{} already runs: what it did before now (its runtime's and its own start-up) \
                     is not in the profile, and it may not start under it; record from its first \
                     instruction with `profile hook` (podman, CRI-O) or `profile record \
                     --wait-for-container` (containerd, any runtime)",
                    cgroup.path.display()
                );
            }
        }
        Resolved::Waiting(wait) => {
            info!(
                "recording every new cgroup from its first call until container {} appears",
                wait.query
            );
            wait.look()?;
        }
        Resolved::Root { root, out_dir } => {
            // Walked after the programs are attached: a cgroup created in between is counted
            // from its first call but taken for an existing one (not written), never the
            // other way round.
            known = names_below(root)?;
            existing = known.keys().copied().collect();
            log::debug!("existing cgroups below the root: {known:?}");
            info!(
                "recording every new cgroup below {} into {} ({} existing ones are left out)",
                root.path.display(),
                out_dir.display(),
                existing.len()
            );
        }
    }
    if options.record.after_seccomp {
        info!("counting only calls made under a seccomp filter (--no-after-seccomp counts all)");
    }
    if let Some(ready) = &options.ready {
        fs::File::from(ready.try_clone().map_err(io_err("signalling readiness"))?)
            .write_all(b"1")
            .map_err(io_err("signalling readiness"))?;
    }
    let mut logger = tracer
        .logger()
        .map(child::poll_readable)
        .transpose()
        .map_err(io_err("polling the eBPF log"))?;
    let signal_fd = child::poll_readable(signals).map_err(io_err("polling signals"))?;

    let deadline = options.duration.and_then(|d| Instant::now().checked_add(d));
    let mut seen_populated = false;
    let mut observed = Observed::default();
    let mut tick = tokio::time::interval(POLL);
    let mut progress = Progress::start();
    let mut progress_tick = progress_ticks();
    loop {
        tokio::select! {
            _ = progress_tick.tick(), if progress.enabled() => {
                let (distinct, followed) = progress_numbers(&mut tracer, &resolved)?;
                progress.update(distinct, followed);
            }
            _ = tick.tick() => {
                observed.look(&mut tracer, &resolved)?;
                match &mut resolved {
                    Resolved::Process { tgid, exited } => {
                        // The exit hook removes a process when its last thread goes; one that
                        // exited before it was put in the table leaves a stale entry behind.
                        let gone = pollin(exited);
                        let left = tracer
                            .watched_processes()?
                            .into_iter()
                            .filter(|pid| !(gone && pid == tgid))
                            .count();
                        if left == 0 {
                            info!("process {tgid} and its descendants have exited");
                            break;
                        }
                    }
                    Resolved::Cgroup(cgroup) => {
                        if !cgroup.exists() {
                            info!("cgroup {} is gone", cgroup.path.display());
                            break;
                        }
                        match cgroup.populated() {
                            Ok(true) => seen_populated = true,
                            Ok(false) if seen_populated => {
                                info!("cgroup {} has no process left", cgroup.path.display());
                                break;
                            }
                            _ => {}
                        }
                    }
                    Resolved::Root { root, .. } => {
                        if !root.exists() {
                            info!("cgroup {} is gone", root.path.display());
                            break;
                        }
                        rename_below(root, &mut known);
                    }
                    Resolved::Waiting(wait) => {
                        wait.look()?;
                        if let Some(cgroup) = &wait.found {
                            if !cgroup.exists() {
                                info!("container {} is gone", wait.query);
                                break;
                            }
                            match cgroup.populated() {
                                Ok(true) => seen_populated = true,
                                Ok(false) if seen_populated => {
                                    info!("container {} has no process left", wait.query);
                                    break;
                                }
                                _ => {}
                            }
                        }
                    }
                }
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    info!("--duration reached");
                    break;
                }
            }
            guard = signal_fd.readable() => {
                let mut guard = guard.map_err(io_err("polling signals"))?;
                if let Some(sig) = signal_fd.get_ref().read().map_err(io_err("reading signals"))? {
                    info!("signal {}: writing what was recorded", sig.signo);
                    break;
                }
                guard.clear_ready();
            }
            Some(guard) = async { Some(logger.as_mut()?.readable_mut().await) } => {
                let mut guard = guard.map_err(io_err("polling the eBPF log"))?;
                guard.get_inner_mut().flush();
                guard.clear_ready();
            }
        }
    }
    progress.finish();
    if let Some(logger) = logger.as_mut() {
        logger.get_mut().flush();
    }
    report_losses(&tracer)?;

    match &resolved {
        Resolved::Root { root, out_dir } => {
            rename_below(root, &mut known);
            let recordings = tracer.cgroup_recordings()?;
            write_per_cgroup(options, out_dir, &recordings, &known, &existing)?;
        }
        Resolved::Waiting(wait) => {
            let Some(cgroup) = &wait.found else {
                return Err(RecordError::Nothing(format!(
                    "container {} never appeared",
                    wait.query
                )));
            };
            let mut recordings = tracer.cgroup_recordings()?;
            // Its own cgroup's recording (arguments included), with its sub-cgroups' counts.
            let mut recording = recordings.remove(&cgroup.id).unwrap_or_default();
            for (id, sub) in recordings {
                if wait.members.contains(&id) {
                    for ((abi, nr), count) in sub.counts {
                        recording.add(abi, nr, count);
                    }
                }
            }
            write_single(&recording, options, &observed)?;
        }
        _ => write_single(&tracer.recording()?, options, &observed)?,
    }
    Ok(0)
}

/// Writes the recording of a single target, or says why there is nothing to write.
fn write_single(
    recording: &Recording,
    options: &TargetOptions,
    observed: &Observed,
) -> Result<(), RecordError> {
    if recording.is_empty() {
        return Err(RecordError::Nothing(
            observed.why_nothing(options.record.after_seccomp),
        ));
    }
    report_and_write(
        "",
        recording,
        &options.record.format,
        &options.record.profile,
        &options.record.output,
    )
}

/// What the target's processes were seen to be, to say why nothing was recorded.
#[derive(Default)]
struct Observed {
    /// A process was in the target.
    process: bool,
    /// One of them ran under a seccomp filter.
    filtered: bool,
}

impl Observed {
    /// Looks at the target's processes until one under a filter was seen.
    fn look(&mut self, tracer: &mut Tracer, resolved: &Resolved) -> Result<(), RecordError> {
        if self.filtered {
            return Ok(());
        }
        let pids: Vec<u32> = match resolved {
            Resolved::Process { .. } => tracer.watched_processes()?,
            Resolved::Cgroup(cgroup)
            | Resolved::Waiting(Wait {
                found: Some(cgroup),
                ..
            // What cannot be seen now is looked at next time.
            }) => cgroup::processes(&cgroup.path).unwrap_or_default(),
            Resolved::Root { .. } | Resolved::Waiting(_) => return Ok(()),
        };
        for pid in pids {
            let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
                continue;
            };
            self.process = true;
            if cgroup::seccomp_mode(&status).is_some_and(|mode| mode > 0) {
                self.filtered = true;
                break;
            }
        }
        Ok(())
    }

    /// Why a recording is empty, and what to do.
    fn why_nothing(&self, after_seccomp: bool) -> String {
        match (self.process, self.filtered, after_seccomp) {
            (false, _, _) => "no process ran in the target while it was recorded".into(),
            (true, false, true) => "no process of the target ran under a seccomp filter, and only \
                calls made under one count (--after-seccomp): run the workload under a permissive \
                SCMP_ACT_LOG profile (`profile stage` of Docker's default, say) or pass \
                --no-after-seccomp"
                .into(),
            (true, true, true) => "the target runs under a seccomp filter but made no system \
                call while recorded (idle): record while it works, or for longer"
                .into(),
            (true, _, false) => "the target's processes made no system call while recorded \
                (idle): record while it works, or for longer"
                .into(),
        }
    }
}

/// What the progress line shows: distinct syscalls so far, and the processes or cgroups followed.
fn progress_numbers(
    tracer: &mut Tracer,
    resolved: &Resolved,
) -> Result<(usize, usize), RecordError> {
    Ok(match resolved {
        Resolved::Root { .. } => {
            let recordings = tracer.cgroup_recordings()?;
            let distinct: std::collections::BTreeSet<_> =
                recordings.values().flat_map(|r| r.counts.keys()).collect();
            (distinct.len(), recordings.len())
        }
        Resolved::Process { .. } => (tracer.recording()?.counts.len(), tracer.live_processes()?),
        Resolved::Cgroup(_) => (tracer.recording()?.counts.len(), 1),
        Resolved::Waiting(wait) => {
            let recordings = tracer.cgroup_recordings()?;
            let distinct: BTreeSet<_> = recordings
                .iter()
                .filter(|(id, _)| wait.members.contains(id))
                .flat_map(|(_, r)| r.counts.keys())
                .collect();
            (distinct.len(), usize::from(wait.found.is_some()))
        }
    })
}

fn resolve(target: &Target) -> Result<Resolved, RecordError> {
    Ok(match target {
        Target::Pid(pid) => {
            let tgid = tgid_of(*pid)?;
            let exited = sys::pidfd_open(tgid as i32).map_err(|source| TargetError::Io {
                what: "process",
                path: PathBuf::from(format!("/proc/{tgid}")),
                source,
            })?;
            Resolved::Process { tgid, exited }
        }
        Target::Cgroup(path) => {
            let mount = cgroup::v2_mount()?;
            Resolved::Cgroup(Cgroup::resolve(path, &mount)?)
        }
        Target::Container(id) => {
            let mount = cgroup::v2_mount()?;
            let rel = cgroup::locate_container(id, &mount)?;
            let cgroup = Cgroup::resolve(&rel, &mount)?;
            info!("container {id}: cgroup {}", cgroup.path.display());
            Resolved::Cgroup(cgroup)
        }
        Target::WaitForContainer(query) => {
            let mount = cgroup::v2_mount()?;
            Resolved::Waiting(Wait {
                query: query.clone(),
                root: Cgroup::resolve(Path::new(""), &mount)?,
                mount,
                found: None,
                members: BTreeSet::new(),
            })
        }
        Target::CgroupRoot { root, out_dir } => {
            let mount = cgroup::v2_mount()?;
            let root = Cgroup::resolve(root, &mount)?;
            fs::create_dir_all(out_dir).map_err(|source| TargetError::Io {
                what: "output directory",
                path: out_dir.clone(),
                source,
            })?;
            crate::output::check_dir_writable(out_dir)?;
            Resolved::Root {
                root,
                out_dir: out_dir.clone(),
            }
        }
    })
}

/// The thread group of `pid` (a thread id works too).
fn tgid_of(pid: u32) -> Result<u32, TargetError> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|_| TargetError::NoProcess(pid))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Tgid:"))
        .and_then(|tgid| tgid.trim().parse().ok())
        .ok_or(TargetError::NoProcess(pid))
}

/// Whether a pidfd says its process has exited.
fn pollin(fd: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
}

/// Cgroup id → its path below `root`.
fn names_below(root: &Cgroup) -> Result<BTreeMap<u64, String>, TargetError> {
    Ok(cgroup::walk(&root.path)?
        .into_iter()
        .map(|(rel, id)| (id, rel.display().to_string()))
        .collect())
}

/// Adds the cgroups below `root` now to `known`; a walk that fails names nothing new (a cgroup
/// it missed is named after its id when written), and says why.
fn rename_below(root: &Cgroup, known: &mut BTreeMap<u64, String>) {
    match names_below(root) {
        Ok(names) => known.extend(names),
        Err(err) => warn!("{err}; new cgroups are named at the next look"),
    }
}

fn write_per_cgroup(
    options: &TargetOptions,
    out_dir: &Path,
    recordings: &BTreeMap<u64, Recording>,
    known: &BTreeMap<u64, String>,
    existing: &BTreeSet<u64>,
) -> Result<(), RecordError> {
    let extension = match &options.record.format {
        Format::Report => "txt",
        _ => "json",
    };
    let mut used = BTreeSet::new();
    let (mut total, mut failed) = (0, 0);
    for (id, recording) in recordings {
        if existing.contains(id) {
            continue;
        }
        let stem = match known.get(id) {
            Some(name) => cgroup::file_stem(name),
            None => {
                warn!(
                    "cgroup id {id} came and went between two looks at the tree; its profile is \
                     named after the id"
                );
                format!("cgroup-{id}")
            }
        };
        // Sanitising can map two paths to one name; the id tells them apart.
        let stem = if used.insert(stem.clone()) {
            stem
        } else {
            format!("{stem}-{id}")
        };
        let path = out_dir.join(format!("{stem}.{extension}"));
        total += 1;
        // One file that cannot be written does not keep the others from being written.
        match report_and_write(
            &format!("{stem}: "),
            recording,
            &options.record.format,
            &options.record.profile,
            &Destination::File(path.clone()),
        ) {
            Ok(()) => info!(
                "{}: {}",
                known.get(id).map_or("?", String::as_str),
                path.display()
            ),
            Err(err) => {
                error!("{}", crate::output::error_chain(&err));
                failed += 1;
            }
        }
    }
    if total == 0 {
        return Err(RecordError::Nothing(
            "no cgroup created below the root while it was recorded made a call that counts".into(),
        ));
    }
    if failed > 0 {
        return Err(RecordError::NotAllWritten { failed, total });
    }
    Ok(())
}
