use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use profiler::{
    audit::SourceChoice,
    daemon::{self, store::OutputFormat, DaemonOptions},
    profile::learn::DefaultAction,
    sys::Signals,
};

/// Default control socket of `profile daemon` and `profile status`.
pub const CONTROL_SOCKET: &str = "/run/profile/daemon.sock";

/// Learn continuously: record every cgroup below a root (every container on a node) with one set
/// of eBPF programs, keeping one profile per workload in --out-dir, merged across restarts.
#[derive(Args)]
#[command(after_help = "\
Examples:
  sudo profile daemon --out-dir /var/lib/profile       # a Kubernetes node: its pods
  sudo profile daemon --cgroup-root /sys/fs/cgroup/kubepods.slice --out-dir /var/lib/profile
  sudo profile daemon --cgroup-root kubepods.slice --out-dir /var/lib/profile --format kubelet \\
       --flush-interval 30s --listen 127.0.0.1:9464
  sudo profile daemon --cgroup-root kubepods.slice --out-dir /var/lib/profile \
       --kubelet-logs /host/var/log
  sudo profile daemon --unpin

Without --cgroup-root the root is the kubelet's pod cgroup, kubepods.slice or kubepods below the
cgroup v2 mount. An absolute /sys/fs/cgroup/… root means the same cgroup on a hybrid host, whose
v2 hierarchy is at /sys/fs/cgroup/unified. Cgroups that already run when the programs are loaded
are recorded mid-life: their replicas are marked partial (the meta file, status), as their
start-up is missing. --listen serves /metrics (Prometheus) and /healthz (200 while the daemon
scans, for probes).

Every cgroup below the root is counted from its first syscall, by cgroup id, in a kernel map of
one 384-byte bitmap per cgroup (--max-cgroups entries). A pod's containers are named from the
kubelet's log files in --kubelet-logs (containers/ and pods/): the replicas of one Deployment,
ReplicaSet, StatefulSet or DaemonSet (owner guessed from the pod's name) share one profile,
NAMESPACE_OWNER_CONTAINER.json. Other cgroups, and all of them when there are no kubelet logs,
are named after their path below the root (one that came and went unseen: cgroup-ID).
Profiles are written atomically, with NAME.json.meta beside each (its replicas: cgroups, their
Kubernetes identity and each one's syscalls), at every --flush-interval, when a cgroup is
removed, and on SIGTERM/SIGINT/SIGHUP. A restarted daemon merges with the meta files: nothing
learned is lost.

The programs, their link and maps stay pinned in bpffs (--pin-dir/v<layout>; bpffs is mounted
at /sys/fs/bpf when it is not), so the kernel keeps counting while the daemon is stopped, killed
or upgraded; the next daemon adopts them. The root and --after-seccomp are frozen into the
pinned program: a daemon started with another root, --after-seccomp, --max-cgroups or
--max-odd, or of another layout version, replaces the pinned set (and says so). --unpin removes
the pins (which stops the counting) and exits.

One daemon at a time uses a --pin-dir: a second one waits until the first has stopped (an
update that starts the new daemon first), then adopts the pins. A removed --out-dir is created
again and every profile missing from it written again.

--after-seccomp (the default) counts only calls of tasks already under a seccomp filter, as
`profile record --cgroup-root` does. `profile status` asks the daemon what it tracks through
its control socket (mode 0600; a live daemon's socket or a file that is not a socket is never
replaced); --listen serves Prometheus metrics (16 clients at once, 2 s each).

Enforced workloads: a call a seccomp filter denies never reaches sys_enter; a second program on
sys_exit counts those of syscalls the cgroup never made (--max-denials pairs of cgroup and
syscall), on every runtime, and seccomp's audit records (--audit-source; KILL always, the
others under SECCOMP_FILTER_FLAG_LOG) add the executable. Each denied syscall shows in `profile
status` and as profile_daemon_denied_total{workload,syscall}, and NAME.proposed.json (the
profile plus what was denied) is written with NAME.proposed.json.meta (where each addition came
from) for `profile diff` and a human's `profile promote`. NAME.json never gets them.

Exit status: 0 after a stop signal with every profile written; 1 when some could not be written
(what they hold stays in the kernel maps); 2 when the daemon could not start.")]
pub struct DaemonArgs {
    /// The cgroup v2 directory whose descendants are recorded (absolute, or relative to the v2
    /// mount). Default: the kubelet's pods, kubepods.slice (systemd cgroup driver) or kubepods
    /// (cgroupfs driver).
    #[arg(long, value_name = "PATH")]
    cgroup_root: Option<PathBuf>,
    /// Where the profiles go (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "unpin")]
    out_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = FormatChoice::Oci)]
    format: FormatChoice,
    /// The kubelet's log directory, holding containers/ and pods/: names pods and containers
    /// and merges the replicas of a workload (without it, cgroups are named by path).
    #[arg(long, value_name = "DIR", default_value = "/var/log")]
    kubelet_logs: PathBuf,
    /// How often changed profiles are written (e.g. 10s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = profiler::duration::parse)]
    flush_interval: Duration,
    /// Serve Prometheus metrics (/metrics) and health (/healthz) over HTTP on this address
    /// (loopback on a host; the pod's address in a DaemonSet).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// The control socket `profile status` reads.
    #[arg(long, value_name = "PATH", default_value = CONTROL_SOCKET)]
    control_socket: PathBuf,
    /// Where the programs, link and maps are pinned (below a bpffs mount).
    #[arg(long, value_name = "DIR", default_value = "/sys/fs/bpf/profile")]
    pin_dir: PathBuf,
    /// Cgroups the kernel map holds at once (384 bytes of kernel memory plus ~60 of overhead
    /// each, allocated up front).
    #[arg(long, value_name = "N", default_value_t = 16_384, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    max_cgroups: u32,
    /// Out-of-table syscall numbers (bogus numbers passed to syscall(2)) kept at once.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_odd: u32,
    /// (cgroup, syscall) pairs of denied calls the kernel map holds at once (~130 bytes of
    /// kernel memory each, allocated as they come).
    #[arg(long, value_name = "N", default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    max_denials: u32,
    /// Where seccomp's audit records of denials are read: auto, netlink, file, file:PATH, kmsg,
    /// or none.
    #[arg(long, value_name = "SOURCE", default_value = "auto", value_parser = parse_audit_source)]
    audit_source: AuditSource,
    /// What the profiles do with syscalls that were not seen (errno is EPERM).
    #[arg(long, value_enum, default_value_t = DefaultChoice::Errno)]
    default_action: DefaultChoice,
    /// Count only calls of tasks already under a seccomp filter (the default).
    #[arg(long, overrides_with = "no_after_seccomp")]
    after_seccomp: bool,
    /// Count every call, also those made before a seccomp filter is installed.
    #[arg(long, overrides_with = "after_seccomp")]
    no_after_seccomp: bool,
    /// Remove the pinned programs and maps (stops the counting) and exit.
    #[arg(long, conflicts_with_all = ["cgroup_root", "out_dir", "listen"])]
    unpin: bool,
}

#[derive(Clone, Debug)]
enum AuditSource {
    None,
    Read(SourceChoice),
}

fn parse_audit_source(text: &str) -> Result<AuditSource, String> {
    match text {
        "none" => Ok(AuditSource::None),
        _ => text
            .parse()
            .map(AuditSource::Read)
            .map_err(|err: String| err.replace("or kmsg)", "kmsg or none)")),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatChoice {
    /// OCI `linux.seccomp` JSON (runc, crun, Docker, podman).
    Oci,
    /// A Security Profiles Operator SeccompProfile resource (JSON) named after the workload.
    Spo,
    /// The kubelet's Localhost profile file.
    Kubelet,
}

#[derive(Clone, Copy, ValueEnum)]
enum DefaultChoice {
    /// SCMP_ACT_ERRNO (EPERM).
    Errno,
    /// SCMP_ACT_KILL_PROCESS.
    Kill,
    /// SCMP_ACT_LOG: log, do not block (staging).
    Log,
}

pub fn run(args: DaemonArgs) -> anyhow::Result<i32> {
    if args.unpin {
        let removed = daemon::unpin(&args.pin_dir)?;
        if removed.is_empty() {
            log::warn!("nothing pinned below {}", args.pin_dir.display());
        }
        let text: String = removed
            .iter()
            .map(|set| format!("unpinned {}\n", set.display()))
            .collect();
        profiler::output::emit(None, &text)?;
        return Ok(0);
    }
    // Before the runtime exists, so that no thread has the stop signals unblocked.
    let signals = Signals::block().context("blocking signals")?;
    let options = DaemonOptions {
        root: args.cgroup_root,
        out_dir: args.out_dir.expect("clap requires --out-dir"),
        kubelet_logs: args.kubelet_logs,
        format: match args.format {
            FormatChoice::Oci => OutputFormat::Oci,
            FormatChoice::Spo => OutputFormat::Spo,
            FormatChoice::Kubelet => OutputFormat::Kubelet,
        },
        default_action: match args.default_action {
            DefaultChoice::Errno => DefaultAction::Errno(1),
            DefaultChoice::Kill => DefaultAction::Kill,
            DefaultChoice::Log => DefaultAction::Log,
        },
        flush_interval: args.flush_interval,
        listen: args.listen,
        control_socket: args.control_socket,
        pin_dir: args.pin_dir,
        after_seccomp: !args.no_after_seccomp,
        max_cgroups: args.max_cgroups,
        max_odd: args.max_odd,
        max_denials: args.max_denials,
        audit: match args.audit_source {
            AuditSource::None => None,
            AuditSource::Read(choice) => Some(choice),
        },
    };
    if options.flush_interval.is_zero() {
        anyhow::bail!("--flush-interval must be more than 0");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    match runtime.block_on(daemon::run(&options, signals)) {
        Ok(code) => Ok(code),
        Err(err) => {
            log::error!("{}", profiler::output::error_chain(&err));
            Ok(2)
        }
    }
}
