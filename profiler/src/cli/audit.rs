use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use profiler::{
    audit::{self, Filters, Options, SourceChoice},
    output,
    sys::Signals,
};

/// Collect the kernel's seccomp audit records: what a staged (SCMP_ACT_LOG) profile would have
/// blocked, or what an enforcing one blocked.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile audit --follow -o seen.json                  # until ^C; then profile merge app.json seen.json
  profile audit --duration 10m --exe /usr/bin/web -o seen.json
  profile audit --source kmsg --format report          # what the kernel log still holds
  profile audit --source file:/var/log/audit/audit.log.1 --container 3f2a9c --format report

Sources (--source auto picks the first that works and names it on stderr): netlink, the audit
multicast group (every record, while listening: needs --follow or --duration, and
CAP_AUDIT_READ); file[:PATH], auditd's log (default /var/log/audit/audit.log); kmsg, the kernel
log (printk keeps only 10 audit records per 5 s: records may be missing).

The profile lists every syscall a record showed, whatever the action (LOG: would have been
blocked; ERRNO or KILL: was blocked), with default SCMP_ACT_ERRNO: the input of `profile merge`.
SIGINT or SIGTERM ends --follow; what was collected is written and profile exits 0.

Exit status: 0 written, 2 invalid options or unreadable source.")]
pub struct AuditArgs {
    /// Where records come from: auto, netlink, file, file:PATH or kmsg.
    #[arg(long, value_name = "SOURCE", default_value = "auto")]
    source: SourceChoice,
    /// Keep collecting new records until SIGINT/SIGTERM (or --duration).
    #[arg(long)]
    follow: bool,
    /// Collect new records for this long (e.g. 30s, 10m), then stop.
    #[arg(long, value_name = "DURATION", value_parser = profiler::duration::parse)]
    duration: Option<Duration>,
    /// Skip the records already in the log file or kernel log; take only new ones.
    #[arg(long)]
    new_only: bool,
    /// Only records of this process (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pids: Vec<u32>,
    /// Only records of this executable: its path, file name or command name (repeatable).
    #[arg(long = "exe", value_name = "EXE")]
    exes: Vec<String>,
    /// Only processes in this cgroup v2 path or below it, as in /proc/PID/cgroup (repeatable).
    #[arg(long = "cgroup", value_name = "PATH")]
    cgroups: Vec<String>,
    /// Only processes whose cgroup path contains this container id (repeatable).
    #[arg(long = "container", value_name = "ID")]
    containers: Vec<String>,
    #[arg(long, value_enum, default_value_t = AuditFormat::Profile)]
    format: AuditFormat,
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum AuditFormat {
    /// An OCI seccomp profile allowing the syscalls seen (for `profile merge`).
    Profile,
    /// A table of records by syscall, action, executable and cgroup, with counts and pids.
    Report,
}

pub fn run(args: AuditArgs) -> anyhow::Result<i32> {
    // Before anything else, so that SIGINT ends the collection through the signalfd.
    let signals = Signals::block().context("blocking signals")?;
    let options = Options {
        source: args.source,
        follow: args.follow,
        duration: args.duration,
        new_only: args.new_only,
        filters: Filters {
            pids: args.pids,
            exes: args.exes,
            cgroups: args.cgroups,
            containers: args.containers,
        },
    };
    let findings = audit::collect(&options, &signals)?;

    if findings.malformed > 0 {
        let (reason, line) = findings.first_malformed.clone().unwrap_or_default();
        log::warn!(
            "{} malformed record lines skipped (the first: {reason}: {line:?})",
            findings.malformed
        );
    }
    if findings.suppressed > 0 {
        log::warn!(
            "the kernel log says printk suppressed {} audit lines: records are missing",
            findings.suppressed
        );
    }
    if findings.overwritten > 0 {
        log::warn!(
            "the kernel log was overwritten {} times before it was read: records are missing",
            findings.overwritten
        );
    }
    if findings.overflows > 0 {
        log::warn!(
            "the netlink socket overflowed {} times: records are missing",
            findings.overflows
        );
    }
    for unnamed in findings.unnamed() {
        log::warn!(
            "syscall {} of {} has no name in its table ({} records): not in the profile",
            unnamed.nr,
            unnamed.arch,
            unnamed.count
        );
    }
    let blocked: u64 = findings
        .by_action()
        .iter()
        .filter(|(action, _)| !action.let_through())
        .map(|(_, count)| count)
        .sum();
    if blocked > 0 {
        log::warn!("{blocked} records are of calls an enforcing filter blocked (ERRNO, KILL…), not only logged");
    }
    let summary = audit::render::summary(&findings);
    log::info!("{summary}");

    let text = match args.format {
        AuditFormat::Profile => {
            if findings.kept() == 0 {
                log::warn!("no seccomp records seen: the profile allows nothing");
            } else if log::log_enabled!(log::Level::Warn) {
                eprintln!("profile: {summary}");
            }
            findings.to_profile().to_json()
        }
        AuditFormat::Report => audit::render::report(&findings),
    };
    output::emit(args.output.as_deref(), &text)?;
    Ok(0)
}
