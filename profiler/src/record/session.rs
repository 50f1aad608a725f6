//! Drives a recording of a command: start it held, watch it, let it exec, wait for it and its
//! descendants, then write what they did.
use std::{
    ffi::OsString,
    io,
    path::{Path, PathBuf},
    time::Duration,
};

use log::{error, info, warn};
use tokio::{io::unix::AsyncFd, time::Instant};

use crate::{
    cgroup::TargetError,
    ebpf::{Tracer, TracerConfig, TracerError, KERNEL_BTF},
    output::{
        self,
        progress::Progress,
        recording::{render, Format},
        WriteError,
    },
    profile::{
        learn::{Learn as _, ProfileOptions},
        ops,
        restrict::Outcome,
        Profile,
    },
    recording::{
        counts::{self, Counts},
        Recording,
    },
    sys::{self, child, CommandError, Credentials, Signals},
};

const PROGRESS_AFTER: Duration = Duration::from_secs(2);
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How often the set of live descendants is checked after the command has exited.
const LINGER_POLL: Duration = Duration::from_millis(20);

/// Where a recording goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Destination {
    Stdout,
    /// This file (atomically); a profile gets its counts beside it.
    File(PathBuf),
    /// Merged into the profile at `path` by `profile merge`'s rules (`--into`), counts too;
    /// `existing` is `None` when there is no profile there yet.
    Into {
        path: PathBuf,
        existing: Option<Box<Existing>>,
    },
}

/// The profile `--into` merges into, read before recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Existing {
    /// Resolved to plain OCI.
    pub profile: Profile,
    /// Its counts side file, if it has one.
    pub counts: Option<Counts>,
}

/// What every recording is asked for, whatever it records.
pub struct RecordOptions {
    pub output: Destination,
    pub format: Format,
    pub profile: ProfileOptions,
    /// Count only calls made under a seccomp filter (a command that installs one itself, a
    /// container its runtime confines).
    pub after_seccomp: bool,
    /// Learn the deciding arguments of the listed syscalls and restrict them (`--args`).
    pub args: bool,
}

pub struct CommandOptions {
    /// Program and arguments.
    pub command: Vec<OsString>,
    /// Run the command as this user and group (`--user`).
    pub user: Option<Credentials>,
    /// How long to keep recording descendants that outlive the command; `None` waits for all.
    pub linger: Option<Duration>,
    pub record: RecordOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("recording needs root, or {0} (the eBPF programs cannot be loaded without it)")]
    Privileges(&'static str),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Tracer(#[from] TracerError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{source}; {}", match kept {
        Some(path) => format!("the recording is kept in {} (move it into place)", path.display()),
        None => "it could not be kept anywhere else either".to_owned(),
    })]
    NotWritten {
        source: WriteError,
        kept: Option<PathBuf>,
    },
    #[error(
        "{failed} of {total} profiles could not be written (each is kept in the file named above)"
    )]
    NotAllWritten { failed: usize, total: usize },
    #[error(transparent)]
    Kubernetes(#[from] crate::profile::k8s::K8sError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("{0}: {1}")]
    Merge(String, ops::OpError),
    /// The target made no call that counts: nothing is written.
    #[error("nothing was recorded, nothing written: {0}")]
    Nothing(String),
}

impl RecordError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RecordError::Command(err) => err.exit_code(),
            RecordError::Nothing(_) => 1,
            _ => 2,
        }
    }
}

pub(super) fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> RecordError {
    move |source| RecordError::Io { what, source }
}

/// Records `options.command` and returns its exit code (128 + N when a signal killed it).
/// `signals` must have been blocked before any other thread started.
pub async fn record_command(
    options: &CommandOptions,
    signals: Signals,
) -> Result<i32, RecordError> {
    if let Some(cap) = sys::missing_bpf_capability().map_err(io_err("reading capabilities"))? {
        return Err(RecordError::Privileges(cap));
    }
    let (program, _) = options
        .command
        .split_first()
        .expect("clap requires a command");
    let path = sys::resolve_program(program, std::env::var_os("PATH").as_deref())?;
    check_destination(&options.record.output)?;
    // A result on stdout must not mix with the command's output: the command's goes to stderr.
    let stdout_to_stderr = options.record.output == Destination::Stdout;
    let held = sys::spawn_held(
        &path,
        &options.command,
        &signals.original_mask,
        &sys::ChildSetup {
            user: options.user.as_ref(),
            stdout_to_stderr,
        },
    )?;

    let config = TracerConfig {
        after_seccomp: options.record.after_seccomp,
        args: options.record.args,
        ..TracerConfig::default()
    };
    let mut tracer = match Tracer::load(KERNEL_BTF.as_ref(), &config).and_then(|mut tracer| {
        tracer.watch(held.pid() as u32)?;
        Ok(tracer)
    }) {
        Ok(tracer) => tracer,
        Err(err) => {
            held.abort();
            return Err(err.into());
        }
    };
    let mut logger = tracer
        .logger()
        .map(child::poll_readable)
        .transpose()
        .map_err(io_err("polling the eBPF log"))?;
    let pid = held.resume()?;
    info!("recording {} (pid {pid})", path.display());

    let signal_fd = child::poll_readable(signals).map_err(io_err("polling signals"))?;
    let wait = child::wait(pid, &signal_fd);
    tokio::pin!(wait);
    let mut progress = Progress::start();
    let mut tick = progress_ticks();
    let status = loop {
        tokio::select! {
            status = &mut wait => break status.map_err(io_err("waiting for the command"))?,
            _ = tick.tick(), if progress.enabled() => {
                progress.update(tracer.recording()?.counts.len(), tracer.live_processes()?);
            }
            Some(guard) = async { Some(logger.as_mut()?.readable_mut().await) } => {
                let mut guard = guard.map_err(io_err("polling the eBPF log"))?;
                guard.get_inner_mut().flush();
                guard.clear_ready();
            }
        }
    };

    linger(&mut tracer, options.linger, &signal_fd).await?;
    if let Some(logger) = logger.as_mut() {
        logger.get_mut().flush();
    }

    progress.finish();
    let recording = tracer.recording()?;
    report_losses(&tracer)?;
    report_and_write(
        "",
        &recording,
        &options.record.format,
        &options.record.profile,
        &options.record.output,
    )?;
    Ok(sys::exit_code(status))
}

/// When the progress line is redrawn: not at all for short recordings, so that the command's own
/// output is left alone, then every second.
pub(super) fn progress_ticks() -> tokio::time::Interval {
    let mut tick = tokio::time::interval_at(Instant::now() + PROGRESS_AFTER, PROGRESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick
}

/// Keeps counting while descendants of the command still run, up to `limit`, or until a stop
/// signal says to write now.
async fn linger(
    tracer: &mut Tracer,
    limit: Option<Duration>,
    signal_fd: &AsyncFd<Signals>,
) -> Result<(), RecordError> {
    let deadline = limit.and_then(|limit| Instant::now().checked_add(limit));
    loop {
        let live = tracer.live_processes()?;
        if live == 0 {
            return Ok(());
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            warn!("{live} descendant process(es) still running; writing what they did so far");
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(LINGER_POLL) => {}
            guard = signal_fd.readable() => {
                let mut guard = guard.map_err(io_err("polling signals"))?;
                if signal_fd.get_ref().read().map_err(io_err("reading signals"))?.is_some() {
                    warn!("stopped while {live} descendant process(es) still run; writing what they did so far");
                    return Ok(());
                }
                guard.clear_ready();
            }
        }
    }
}

/// Fails when `output` cannot be written now, before anything is recorded: a recording that
/// cannot be written is work lost.
pub(super) fn check_destination(output: &Destination) -> Result<(), RecordError> {
    match output {
        Destination::Stdout => Ok(()),
        Destination::File(path) | Destination::Into { path, .. } => {
            Ok(output::check_writable(path)?)
        }
    }
}

/// Says what a recording holds that its profile cannot (unknown numbers, unrestricted calls,
/// `prefix` naming the recording), then writes it.
pub(super) fn report_and_write(
    prefix: &str,
    recording: &Recording,
    format: &Format,
    options: &ProfileOptions,
    output: &Destination,
) -> Result<(), RecordError> {
    report_unknown(recording);
    report_restrictions(prefix, recording);
    write(recording, format, options, output)
}

/// Writes a recording in the requested format to `output`. A profile written to a file gets its
/// counts beside it (`FILE.counts`, read by `profile report`): runtimes read the profile itself,
/// so it carries nothing they do not know. What cannot be written is kept aside
/// ([`output::keep_aside`]) and the error says where.
fn write(
    recording: &Recording,
    format: &Format,
    options: &ProfileOptions,
    output: &Destination,
) -> Result<(), RecordError> {
    let counts = || Counts::from_recording(recording, &recording.additions(options));
    match output {
        Destination::Stdout => write_or_keep(None, &render(recording, format, options)?)?,
        Destination::File(path) => {
            write_or_keep(Some(path), &render(recording, format, options)?)?;
            if matches!(format, Format::Oci | Format::Kubelet { .. }) {
                write_counts(path, &counts())?;
            }
        }
        Destination::Into { path, existing } => {
            let learned = recording.to_profile(options);
            let mut counts = counts();
            let profile = match existing {
                None => learned,
                Some(existing) => {
                    let Existing {
                        profile,
                        counts: existing_counts,
                    } = existing.as_ref();
                    let source = path.display().to_string();
                    let inputs = [
                        ops::Input {
                            source: &source,
                            profile,
                        },
                        ops::Input {
                            source: "this recording",
                            profile: &learned,
                        },
                    ];
                    let merged =
                        ops::merge(&inputs).map_err(|err| RecordError::Merge(source, err))?;
                    for conflict in &merged.conflicts {
                        warn!("{conflict}");
                    }
                    if let Some(existing_counts) = existing_counts {
                        counts.merge(existing_counts);
                    }
                    merged.profile
                }
            };
            write_or_keep(Some(path), &profile.to_canonical_json())?;
            write_counts(path, &counts)?;
        }
    }
    if let Format::Kubelet { name } = format {
        let snippet =
            crate::profile::k8s::pod_snippet(&crate::profile::k8s::localhost_profile(name)?);
        if log::log_enabled!(log::Level::Warn) {
            let file_name = crate::profile::k8s::profile_file_name(name)?;
            eprint!(
                "{}",
                crate::profile::k8s::kubelet_hint(&file_name, &snippet.to_json())
            );
        }
    }
    let additions = recording.additions(options);
    let implied = match additions.implied.len() {
        0 => String::new(),
        n => format!(", {n} implied"),
    };
    let destination = match output {
        Destination::Stdout => "stdout".to_owned(),
        Destination::File(path) | Destination::Into { path, .. } => path.display().to_string(),
    };
    output::notice(&format!("{destination}: {}{implied}", recording.summary()));
    Ok(())
}

fn write_counts(profile: &Path, counts: &Counts) -> Result<(), RecordError> {
    write_or_keep(Some(&counts::side_file(profile)), &counts.to_json())
}

/// Writes `contents` to `path` (stdout when `None`), or keeps them aside.
fn write_or_keep(path: Option<&Path>, contents: &str) -> Result<(), RecordError> {
    output::emit(path, contents).map_err(|source| {
        let name = path
            .and_then(Path::file_name)
            .map_or_else(|| "profile".into(), |name| name.to_string_lossy());
        RecordError::NotWritten {
            kept: output::keep_aside(&name, contents.as_bytes()),
            source,
        }
    })
}

pub(super) fn report_losses(tracer: &Tracer) -> Result<(), RecordError> {
    let losses = tracer.losses()?;
    if losses.watch_full > 0 {
        error!(
            "{} child process(es) were not followed: the watch table was full",
            losses.watch_full
        );
    }
    if losses.odd_full > 0 {
        error!(
            "{} calls with out-of-table syscall numbers were not kept: their table was full",
            losses.odd_full
        );
    }
    if losses.read_failed > 0 {
        error!(
            "{} kernel reads failed; some calls may be counted under the wrong ABI",
            losses.read_failed
        );
    }
    if losses.args_lost > 0 {
        error!(
            "{} argument values were not kept (their table was full or clone3's flags could \
             not be read); their syscalls stay unrestricted",
            losses.args_lost
        );
    }
    if losses.cgroup_full > 0 {
        error!(
            "{} calls below the cgroup root were not kept: the per-cgroup table was full",
            losses.cgroup_full
        );
    }
    Ok(())
}

/// With `--args`: which listed syscalls stay unrestricted, and why (`prefix` names the cgroup).
fn report_restrictions(prefix: &str, recording: &Recording) {
    for restriction in recording.restrictions().unwrap_or_default() {
        match restriction.outcome {
            Outcome::Only(ways) => info!(
                "{prefix}{}: restricted to {} argument value(s)",
                restriction.name,
                ways.len()
            ),
            Outcome::Unrestricted(why) => {
                warn!("{prefix}{} stays unrestricted: {why}", restriction.name)
            }
        }
    }
}

fn report_unknown(recording: &Recording) {
    for unknown in recording.unknown() {
        error!(
            "{} syscall number {} (called {} times) has no name in the {} table; the profile cannot allow it by name",
            unknown.abi, unknown.nr, unknown.count, unknown.abi
        );
    }
}
