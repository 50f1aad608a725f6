use std::{
    collections::BTreeSet,
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use clap::{ArgGroup, Args, ValueEnum};
use profiler::{
    output::recording::Format,
    profile::{
        groups,
        learn::{DefaultAction, ProfileOptions},
    },
    record::{
        record_command, record_target, CommandOptions, Destination, Existing, RecordOptions,
        Target, TargetOptions,
    },
    sys::{Credentials, Signals},
};

use super::check::{load, TargetArgs};

/// Record every syscall of a command (its threads and children), or of something already
/// running: a process tree, a cgroup, a container, or every cgroup that appears below a root.
#[derive(Args)]
#[command(
    group(ArgGroup::new("target").required(true).args(["command", "pid", "cgroup", "container", "wait_for_container", "cgroup_root"])),
    after_help = "\
Examples:
  profile record -o app.json -- ./app --flag
  profile record --format report -- ls /
  profile record --stage log -o staged.json -- ./server
  profile record --args -o app.json -- ./app           # also restrict socket families, ioctls…
  profile record --pid 4242 -o web.json                # until the process tree exits or ^C
  profile record --container 3f2a --duration 60s --format spo --name web -o web.yaml --yaml
  profile record --wait-for-container web -o web.json  # then: ctr run … web (from its first call)
  profile record --cgroup /sys/fs/cgroup/kubepods.slice/… --duration 5m -o web.json
  profile record --cgroup-root kubepods.slice --out-dir profiles/
  profile record --into app.json -- ./app --fresh      # merge another run into app.json
  profile record --user postgres -o pg.json -- postgres -D /var/lib/pg
  profile record --allow-group @sync -o app.json -- ./app

With a command, its exit status becomes profile's (128+N when signal N killed it); after the
command exits, recording goes on until its last descendant exits (or --linger expires, or
SIGINT). Other targets are recorded until --duration, SIGINT/SIGTERM/SIGHUP, or the target is
gone (--pid: the process and every descendant have exited; --cgroup/--container/
--wait-for-container: the cgroup is removed, or has no process left after having had one;
--cgroup-root: the root is removed); then the profile is written, one line says where and how
many syscalls it allows, and profile exits 0. When nothing counted, nothing is written and
profile exits 1, saying whether the target had no process, ran under no seccomp filter (see
--after-seccomp) or was idle.

A container recorded with --container already ran: its runtime's and its own start-up are not
in the profile, which then may not start it (a warning says so). Record containers from their
first instruction with `profile hook` (podman, CRI-O: an OCI hook) or --wait-for-container
(any runtime; every cgroup's calls are counted until the container's appears). Run an exec
into the container while recording if exec probes or `kubectl exec` must work under the
profile.

Cgroups are cgroup v2 directories, absolute or relative to the v2 mount (/sys/fs/cgroup/unified
on a hybrid host). --cgroup-root writes one profile per cgroup created below the root while
recording, counted from its first call and named after its path below the root; cgroups that
existed when recording started are left out.

--after-seccomp (the default for --cgroup, --container, --wait-for-container and --cgroup-root)
counts only calls of tasks that already run under a seccomp filter: what a container does after
its runtime installs the filter, and nothing the runtime does before. Run the workload under a
permissive profile while learning (e.g. `profile stage` of Docker's default, or any
SCMP_ACT_LOG profile).

--args also learns, per target, the distinct values (up to 16) of the argument that decides the
risk of socket (family and type), socketpair, clone and unshare (namespace flags), setns, ioctl,
prctl, personality, fcntl, and mmap/mprotect (whether PROT_WRITE|PROT_EXEC was asked), and
allows only those; past 16 values, or when a call could not be inspected, the syscall stays
unrestricted and a warning says so. clone3 is then always refused with ENOSYS (its flags are in
memory seccomp cannot read), so glibc falls back to clone. See docs/profiles.md.

Every profile also allows the calls the kernel and the C library imply although a recording
rarely sees them: restart_syscall, rt_sigreturn once a signal handler was installed, a thread's
exit, the vDSO's fallbacks, the vectored forms of the reads and writes seen (the rules and their
reasons are in docs/profiles.md; --no-implied leaves them out). --allow-group adds one of
systemd's syscall groups (@basic-io, @file-system, @io-event, @signal, @sync …, as
`systemd-analyze syscall-filter` lists them); --format report and `profile report` name the
groups of unseen calls that are likely on another path of the program.

--into FILE merges this recording into the profile FILE (created when missing) by `profile
merge`'s rules, counts included, atomically: record the warm start, the fresh start and the
shutdown into one file.

--user USER[:GROUP] runs the command as that user (names or numbers; its supplementary groups
from the group database; the environment is left as it is), switched before recording starts,
so what a wrapper such as runuser or setpriv would call (setuid, setgroups, capset) stays out
of the profile.

Without -o (or --into) the result goes to stdout and the command's own stdout to stderr, so
the two never mix. With -o FILE a profile's per-syscall counts and what was added without being
seen go to FILE.counts, which `profile report` reads. -o, --into and --out-dir are checked
before recording starts (missing directory, read-only or full file system); a profile that still
cannot be written at the end is kept in $TMPDIR (the error names the file), and with
--cgroup-root the other profiles are written all the same. Long recordings show a progress line
on a terminal (not when piped, not with -q).

Exit status: the command's (128+N when signal N killed it); 127 not found, 126 not executable;
0 for other targets; 1 nothing counted (nothing written); 2 when recording could not start or a
profile could not be written.")]
pub struct RecordArgs {
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Merge the recording into this profile (created when missing), as `profile merge` does.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["output", "out_dir"])]
    into: Option<PathBuf>,
    /// Leave out the calls the kernel and the C library imply (restart_syscall, rt_sigreturn
    /// after a handler was installed, …; see docs/profiles.md).
    #[arg(long)]
    no_implied: bool,
    /// Also allow a systemd syscall group (@basic-io, @file-system, @io-event, @signal, @sync
    /// …); repeat or separate with commas.
    #[arg(long, value_name = "@GROUP", value_delimiter = ',')]
    allow_group: Vec<String>,
    /// Run the command as this user (and group), switched before recording starts.
    #[arg(long, value_name = "USER[:GROUP]", requires = "command")]
    user: Option<String>,
    #[arg(long, value_enum, default_value_t = FormatChoice::Oci)]
    format: FormatChoice,
    /// The SeccompProfile resource's or the Localhost profile's name, with --format spo or kubelet.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// YAML instead of JSON, with --format spo.
    #[arg(long)]
    yaml: bool,
    /// What the profile does with syscalls that were not seen.
    #[arg(long, value_enum, default_value_t = DefaultChoice::Errno)]
    default_action: DefaultChoice,
    /// Write the staged form right away (`log`: default action SCMP_ACT_LOG, as `profile stage`).
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        conflicts_with = "default_action"
    )]
    stage: Option<StageChoice>,
    /// errno returned by the default action `errno`.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4094))]
    errno: u32,
    /// Stop waiting for descendants that outlive the command after this long (e.g. 2s, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = profiler::duration::parse)]
    linger: Option<Duration>,
    /// Record this running process (all its threads) and its future children.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Record every task in this cgroup v2 directory and its descendants.
    #[arg(long, value_name = "PATH")]
    cgroup: Option<PathBuf>,
    /// Record the running container with this id (full or unique prefix) or name, found by its
    /// cgroup (containerd, CRI-O, Docker, podman, runc; systemd or cgroupfs driver). It already
    /// ran: its start-up is not in the profile (see --wait-for-container and `profile hook`).
    #[arg(long, value_name = "ID|NAME")]
    container: Option<String>,
    /// Wait for a container that is not started yet and record it from its first call on, once
    /// its cgroup appears (for runtimes without OCI hooks: containerd's ctr, Docker, runc).
    #[arg(long, value_name = "ID|NAME")]
    wait_for_container: Option<String>,
    /// Record every cgroup created below this cgroup v2 directory, one profile each.
    #[arg(long, value_name = "PATH", requires = "out_dir")]
    cgroup_root: Option<PathBuf>,
    /// Where --cgroup-root writes its profiles (created if missing).
    #[arg(
        long,
        value_name = "DIR",
        requires = "cgroup_root",
        conflicts_with = "output"
    )]
    out_dir: Option<PathBuf>,
    /// Stop recording after this long (e.g. 60s, 5m) and write.
    #[arg(long, value_name = "DURATION", value_parser = profiler::duration::parse)]
    duration: Option<Duration>,
    /// Count only calls of tasks already under a seccomp filter (default for --cgroup,
    /// --container and --cgroup-root).
    #[arg(long, overrides_with = "no_after_seccomp")]
    after_seccomp: bool,
    /// Count every call, also those made before a seccomp filter is installed.
    #[arg(long, overrides_with = "after_seccomp")]
    no_after_seccomp: bool,
    /// Also learn the argument that decides the risk of socket, socketpair, clone, unshare,
    /// setns, ioctl, prctl, personality, fcntl, mmap and mprotect, and allow only the values
    /// seen (clone3 is then always refused with ENOSYS, so glibc falls back to clone).
    #[arg(long)]
    args: bool,
    /// The command to record, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatChoice {
    /// OCI `linux.seccomp` JSON, which Docker and podman read as well.
    Oci,
    /// The same JSON (a recorded profile has no Docker-only fields).
    Docker,
    /// A table of syscalls with counts per ABI.
    Report,
    /// A Security Profiles Operator SeccompProfile resource (needs --name).
    Spo,
    /// The kubelet's Localhost profile file; the Pod snippet that uses it goes to stderr (needs
    /// --name).
    Kubelet,
}

impl FormatChoice {
    fn format(self, name: Option<String>, yaml: bool) -> anyhow::Result<Format> {
        if !matches!(self, FormatChoice::Spo | FormatChoice::Kubelet) && name.is_some() {
            anyhow::bail!("--name applies to --format spo and kubelet");
        }
        if self != FormatChoice::Spo && yaml {
            anyhow::bail!("--yaml applies to --format spo");
        }
        Ok(match self {
            FormatChoice::Oci | FormatChoice::Docker => Format::Oci,
            FormatChoice::Report => Format::Report,
            FormatChoice::Spo => {
                let name = name.context("--format spo needs --name (the SeccompProfile's name)")?;
                profiler::profile::k8s::check_resource_name(&name)?;
                Format::Spo { name, yaml }
            }
            FormatChoice::Kubelet => {
                let name =
                    name.context("--format kubelet needs --name (the profile file's name)")?;
                profiler::profile::k8s::profile_file_name(&name)?;
                Format::Kubelet { name }
            }
        })
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum StageChoice {
    /// SCMP_ACT_LOG: everything the recording did not see is logged, not blocked.
    Log,
}

#[derive(Clone, Copy, ValueEnum)]
enum DefaultChoice {
    /// SCMP_ACT_ERRNO with --errno.
    Errno,
    /// SCMP_ACT_KILL_PROCESS.
    Kill,
    /// SCMP_ACT_LOG: log, do not block (staging).
    Log,
}

/// Returns the exit code profile should end with.
pub fn run(args: RecordArgs) -> anyhow::Result<i32> {
    // Before the runtime exists, so that no thread has the stop signals unblocked.
    let signals = Signals::block().context("blocking signals")?;
    let default_action = match (args.stage, args.default_action) {
        (Some(StageChoice::Log), _) => DefaultAction::Log,
        (None, DefaultChoice::Errno) => DefaultAction::Errno(args.errno),
        (None, DefaultChoice::Kill) => DefaultAction::Kill,
        (None, DefaultChoice::Log) => DefaultAction::Log,
    };
    let target = if let Some(pid) = args.pid {
        Some(Target::Pid(pid))
    } else if let Some(path) = args.cgroup {
        Some(Target::Cgroup(path))
    } else if let Some(id) = args.container {
        Some(Target::Container(id))
    } else if let Some(id) = args.wait_for_container {
        Some(Target::WaitForContainer(id))
    } else {
        args.cgroup_root.map(|root| Target::CgroupRoot {
            root,
            out_dir: args
                .out_dir
                .expect("clap requires --out-dir with --cgroup-root"),
        })
    };
    // Containers are learned from where their runtime installs the filter on.
    let after_seccomp = match (args.after_seccomp, args.no_after_seccomp) {
        (true, _) => true,
        (_, true) => false,
        _ => matches!(
            target,
            Some(
                Target::Cgroup(_)
                    | Target::Container(_)
                    | Target::WaitForContainer(_)
                    | Target::CgroupRoot { .. }
            )
        ),
    };
    let format = args.format.format(args.name, args.yaml)?;
    if matches!(format, Format::Spo { .. } | Format::Kubelet { .. })
        && matches!(target, Some(Target::CgroupRoot { .. }))
    {
        anyhow::bail!("--format spo and kubelet take one name; with --cgroup-root use oci and `profile export` per file");
    }
    if args.linger.is_some() && target.is_some() {
        anyhow::bail!("--linger applies to a command; use --duration for other targets");
    }
    let profile = ProfileOptions {
        default: default_action,
        implied: !args.no_implied,
        groups: allow_groups(&args.allow_group)?,
    };
    if args.into.is_some() && format != Format::Oci {
        anyhow::bail!("--into merges into an OCI profile; it goes with --format oci (the default)");
    }
    let output = match (args.into, args.output) {
        (Some(path), _) => Destination::Into {
            existing: existing(&path)?,
            path,
        },
        (None, Some(path)) => Destination::File(path),
        (None, None) => Destination::Stdout,
    };
    let user = args.user.as_deref().map(Credentials::lookup).transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let record = RecordOptions {
        output,
        format,
        profile,
        after_seccomp,
        args: args.args,
    };
    let result = match target {
        Some(target) => {
            let options = TargetOptions {
                target,
                duration: args.duration,
                ready: None,
                record,
            };
            runtime.block_on(record_target(&options, signals))
        }
        None => {
            if args.duration.is_some() {
                anyhow::bail!("--duration applies to --pid, --cgroup, --container and --cgroup-root; a command is recorded until it exits (see --linger)");
            }
            let options = CommandOptions {
                command: args.command,
                user,
                linger: args.linger,
                record,
            };
            runtime.block_on(record_command(&options, signals))
        }
    };
    match result {
        Ok(code) => Ok(code),
        Err(err) => {
            log::error!("{}", profiler::output::error_chain(&err));
            Ok(err.exit_code())
        }
    }
}

/// `--allow-group` values, expanded; an unknown group is an error listing systemd's.
pub(super) fn allow_groups(
    names: &[String],
) -> anyhow::Result<Vec<(String, BTreeSet<&'static str>)>> {
    names
        .iter()
        .map(|name| Ok((name.clone(), groups::expand(name)?)))
        .collect()
}

/// The profile `--into` merges into and its counts, read and checked before recording starts;
/// `None` when the file does not exist yet.
fn existing(path: &Path) -> anyhow::Result<Option<Box<Existing>>> {
    if !path.exists() {
        log::info!(
            "{}: not there yet; written from this recording",
            path.display()
        );
        return Ok(None);
    }
    let checked = load(path, &TargetArgs::default()).map_err(anyhow::Error::msg)?;
    let counts = super::report::read_counts(path, None, false)
        .map_err(anyhow::Error::msg)?
        .map(|(_, counts)| counts);
    Ok(Some(Box::new(Existing {
        profile: checked.resolved,
        counts,
    })))
}
