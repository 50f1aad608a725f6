//! What the daemon tells about itself: a Unix control socket (mode 0600) that answers
//! `profile status` with a JSON [`Status`], and Prometheus text on a TCP listener. Neither lets a
//! client hold the daemon: a few at once, each for a bounded time.
use std::{
    fmt::Write as _,
    io,
    os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::output::escape;
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, UnixListener, UnixStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};

/// Everything `profile status` shows and the metrics export.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub pid: u32,
    pub root: String,
    pub out_dir: String,
    pub pin_dir: String,
    /// How the kernel side started: adopted, loaded, or replaced (why).
    pub started: String,
    /// Cgroups with an entry in the kernel map now.
    pub cgroups_tracked: usize,
    pub workloads: usize,
    /// Distinct (cgroup, syscall) pairs learned since the profiles were first written.
    pub syscalls_seen: usize,
    pub scans: u64,
    /// When the last scan of the kernel maps ended (seconds since the epoch): what health is
    /// judged by.
    #[serde(default)]
    pub last_scan: u64,
    /// Scans that read the cgroups' bitmaps, and walks of the tree: only after the kernel
    /// marked a change.
    #[serde(default)]
    pub bitmap_reads: u64,
    #[serde(default)]
    pub walks: u64,
    /// Cgroups removed or renamed anywhere on the host since the programs were loaded.
    #[serde(default)]
    pub tree_changes: u64,
    pub flushes: u64,
    pub profiles_written: u64,
    pub write_errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Kernel map of cgroups: entries, capacity, kernel memory (bytes).
    pub map_entries: usize,
    pub map_capacity: u32,
    pub map_memory: u64,
    /// Calls the kernel could not keep: a cgroup found the map full, an out-of-table number
    /// found its table full, a kernel read failed.
    pub lost_map_full: u64,
    pub lost_odd_full: u64,
    pub read_failures: u64,
    /// Calls seccomp denied that no profile rule asks for (summed over workloads), and the
    /// (workload, syscall) pairs they were.
    #[serde(default)]
    pub denied_calls: u64,
    #[serde(default)]
    pub denied_syscalls: usize,
    /// Denials not kept: the kernel map of denials was full, or an audit batch was.
    #[serde(default)]
    pub denials_lost: u64,
    /// The audit records read, when a source is open.
    #[serde(default)]
    pub audit: AuditStatus,
    /// Workload → (cgroups, distinct syscalls, written).
    pub workload_list: Vec<WorkloadStatus>,
}

/// What the daemon reads of the kernel's seccomp audit records.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditStatus {
    /// Where they come from (`netlink (audit multicast group 1)`…); absent when none is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Seccomp records read (denials and a staged profile's LOG records).
    pub records: u64,
    /// Records lost before they reached the daemon, as far as the source tells (socket
    /// overflows, the kernel log's overwritten and suppressed lines).
    pub lost: u64,
    /// What the kernel counts as lost (all audit record types) since the daemon started; absent
    /// when it does not tell (it needs CAP_AUDIT_CONTROL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_lost: Option<u64>,
    pub malformed: u64,
    /// Denials whose process could not be placed in a cgroup (gone, and never seen).
    pub unattributed: u64,
    /// Why reading stopped, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One syscall a workload was denied.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DenialStatus {
    /// Its name, or `ABI:NUMBER`.
    pub syscall: String,
    pub arch: String,
    pub count: u64,
    pub first: String,
    pub last: String,
    /// The last call's process, command and what the filter did.
    pub pid: u32,
    pub comm: String,
    pub action: String,
    /// `added` (to the proposal), `expected` (the profile's own rule) or `not added`.
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// `kernel` and/or `audit`.
    pub seen_by: Vec<String>,
}

impl DenialStatus {
    /// Whether the profile denies it on purpose (not alerted on).
    pub fn expected(&self) -> bool {
        self.verdict == "expected"
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// Its file stem.
    pub name: String,
    /// `<namespace>/<owner>/<container>` when the kubelet's logs named its pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
    /// Its cgroups (all replicas ever seen), and how many of them exist now.
    pub replicas: usize,
    pub live: usize,
    /// Replicas recorded mid-life (already running when counting began): start-up missing.
    #[serde(default)]
    pub partial: usize,
    pub syscalls: usize,
    pub written: bool,
    /// What seccomp denied it, per syscall.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denials: Vec<DenialStatus>,
    /// Its proposal file, once written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<String>,
}

pub type Shared = Arc<Mutex<Status>>;

impl Status {
    /// Prometheus text exposition format.
    pub fn metrics(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP profile_daemon_{name} {help}");
            let _ = writeln!(out, "# TYPE profile_daemon_{name} {kind}");
            let _ = writeln!(out, "profile_daemon_{name} {value}");
        };
        metric(
            "cgroups_tracked",
            "gauge",
            "Cgroups with an entry in the kernel map.",
            self.cgroups_tracked.to_string(),
        );
        metric(
            "workloads",
            "gauge",
            "Workloads (profiles) known.",
            self.workloads.to_string(),
        );
        metric(
            "syscalls_seen",
            "gauge",
            "Distinct (cgroup, syscall) pairs learned.",
            self.syscalls_seen.to_string(),
        );
        metric(
            "scans_total",
            "counter",
            "Looks at the kernel's marks of change (each may read maps and walk the tree).",
            self.scans.to_string(),
        );
        metric(
            "bitmap_reads_total",
            "counter",
            "Reads of every cgroup's bitmap, after a cgroup's new syscall or a tree change.",
            self.bitmap_reads.to_string(),
        );
        metric(
            "walks_total",
            "counter",
            "Walks of the cgroup tree.",
            self.walks.to_string(),
        );
        metric(
            "flushes_total",
            "counter",
            "Flushes of changed profiles.",
            self.flushes.to_string(),
        );
        metric(
            "profiles_written_total",
            "counter",
            "Profiles written.",
            self.profiles_written.to_string(),
        );
        metric(
            "write_errors_total",
            "counter",
            "Profiles that could not be written (kept and retried).",
            self.write_errors.to_string(),
        );
        metric(
            "map_entries",
            "gauge",
            "Entries in the kernel map of cgroups.",
            self.map_entries.to_string(),
        );
        metric(
            "map_capacity",
            "gauge",
            "Capacity of the kernel map of cgroups (--max-cgroups).",
            self.map_capacity.to_string(),
        );
        metric(
            "map_fullness",
            "gauge",
            "map_entries / map_capacity.",
            format!(
                "{:.4}",
                self.map_entries as f64 / f64::from(self.map_capacity.max(1))
            ),
        );
        metric(
            "map_memory_bytes",
            "gauge",
            "Kernel memory of the map of cgroups.",
            self.map_memory.to_string(),
        );
        metric(
            "lost_map_full_total",
            "counter",
            "Calls not counted because the map of cgroups was full.",
            self.lost_map_full.to_string(),
        );
        metric(
            "lost_odd_full_total",
            "counter",
            "Out-of-table syscall numbers not kept because their map was full.",
            self.lost_odd_full.to_string(),
        );
        metric(
            "read_failures_total",
            "counter",
            "Failed kernel reads (ABI or seccomp mode unknown).",
            self.read_failures.to_string(),
        );
        metric(
            "denials_lost_total",
            "counter",
            "Denied calls not kept (the kernel map of denials or an audit batch was full).",
            self.denials_lost.to_string(),
        );
        metric(
            "audit_records_total",
            "counter",
            "Seccomp audit records read.",
            self.audit.records.to_string(),
        );
        metric(
            "audit_lost_total",
            "counter",
            "Audit records lost: by the source (socket overflows, the kernel log's rate limit) \
             and, where it tells, by the kernel (all record types).",
            (self.audit.lost + self.audit.kernel_lost.unwrap_or(0)).to_string(),
        );
        // Stems hold only [A-Za-z0-9._-]: nothing to escape in a label value.
        for (name, help, value) in [
            (
                "workload_replicas",
                "Cgroups (replicas) of a workload, removed ones included.",
                (|w: &WorkloadStatus| w.replicas) as fn(&WorkloadStatus) -> usize,
            ),
            (
                "workload_live_replicas",
                "Cgroups (replicas) of a workload that exist now.",
                |w: &WorkloadStatus| w.live,
            ),
        ] {
            let _ = writeln!(out, "# HELP profile_daemon_{name} {help}");
            let _ = writeln!(out, "# TYPE profile_daemon_{name} gauge");
            for w in &self.workload_list {
                let _ = writeln!(
                    out,
                    "profile_daemon_{name}{{workload=\"{}\"}} {}",
                    w.name,
                    value(w)
                );
            }
        }
        // Syscall names are [a-z0-9_] (or ABI:NUMBER): nothing to escape either.
        let _ = writeln!(
            out,
            "# HELP profile_daemon_denied_total Calls seccomp denied a workload that no rule of \
             its profile asks for, per syscall."
        );
        let _ = writeln!(out, "# TYPE profile_daemon_denied_total counter");
        for w in &self.workload_list {
            let mut by_name: std::collections::BTreeMap<&str, u64> = Default::default();
            for d in w.denials.iter().filter(|d| !d.expected()) {
                *by_name.entry(&d.syscall).or_default() += d.count;
            }
            for (syscall, count) in by_name {
                let _ = writeln!(
                    out,
                    "profile_daemon_denied_total{{workload=\"{}\",syscall=\"{syscall}\"}} {count}",
                    w.name
                );
            }
        }
        out
    }

    /// What `profile status` prints.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "daemon pid {}: {} below {}",
            self.pid, self.started, self.root
        );
        let _ = writeln!(
            out,
            "profiles in {}, pins in {}",
            self.out_dir, self.pin_dir
        );
        let _ = writeln!(
            out,
            "cgroups tracked {} (map {}/{} entries, {} KiB kernel memory); workloads {}; syscalls seen {}",
            self.cgroups_tracked,
            self.map_entries,
            self.map_capacity,
            self.map_memory / 1024,
            self.workloads,
            self.syscalls_seen
        );
        let _ = writeln!(
            out,
            "scans {} (bitmaps read {}, tree walked {}), flushes {}, profiles written {}, write errors {}",
            self.scans,
            self.bitmap_reads,
            self.walks,
            self.flushes,
            self.profiles_written,
            self.write_errors
        );
        if let Some(err) = &self.last_error {
            let _ = writeln!(out, "last error: {}", escape(err));
        }
        if self.lost_map_full + self.lost_odd_full + self.read_failures > 0 {
            let _ = writeln!(
                out,
                "LOST: {} calls (map of cgroups full), {} out-of-table numbers (table full), {} failed reads",
                self.lost_map_full, self.lost_odd_full, self.read_failures
            );
        }
        let _ = writeln!(
            out,
            "denied: {} calls of {} syscalls{}",
            self.denied_calls,
            self.denied_syscalls,
            if self.denials_lost > 0 {
                format!(
                    "; LOST: {} denied calls not kept (tables full)",
                    self.denials_lost
                )
            } else {
                String::new()
            }
        );
        let audit = &self.audit;
        match &audit.source {
            Some(source) => {
                let _ = writeln!(
                    out,
                    "audit: {source}: {} records, {} lost{}{}{}",
                    audit.records,
                    audit.lost,
                    audit
                        .kernel_lost
                        .map(|n| format!(", {n} lost by the kernel (all types)"))
                        .unwrap_or_default(),
                    if audit.unattributed > 0 {
                        format!(
                            ", {} denials of processes in no known cgroup",
                            audit.unattributed
                        )
                    } else {
                        String::new()
                    },
                    audit
                        .error
                        .as_ref()
                        .map(|e| format!("; stopped: {}", escape(e)))
                        .unwrap_or_default()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "audit: not read{}",
                    audit
                        .error
                        .as_ref()
                        .map(|e| format!(" ({})", escape(e)))
                        .unwrap_or_default()
                );
            }
        }
        for w in &self.workload_list {
            let _ = writeln!(
                out,
                "  {}{}  replicas {} ({} live{})  syscalls {}{}",
                escape(&w.name),
                w.kubernetes
                    .as_ref()
                    .map(|key| format!(" ({})", escape(key)))
                    .unwrap_or_default(),
                w.replicas,
                w.live,
                if w.partial > 0 {
                    format!(
                        ", {} partial: recorded mid-life, start-up missing",
                        w.partial
                    )
                } else {
                    String::new()
                },
                w.syscalls,
                if w.written { "" } else { "  (not written yet)" }
            );
            for d in &w.denials {
                let _ = writeln!(
                    out,
                    "    denied {} ({}) {} calls, {} to {}, last by pid {} ({}): {}; {}{}",
                    escape(&d.syscall),
                    d.arch,
                    d.count,
                    d.first,
                    d.last,
                    d.pid,
                    escape(&d.comm),
                    escape(&d.action),
                    d.verdict,
                    d.why
                        .as_ref()
                        .map(|why| format!(" ({})", escape(why)))
                        .unwrap_or_default()
                );
            }
            if let Some(proposal) = &w.proposal {
                let _ = writeln!(out, "    proposal: {}", escape(proposal));
            }
        }
        out
    }
}

/// Clients served at once per listener. More wait in the kernel's backlog, where they cost the
/// daemon no descriptor: whatever a local client does, the store and the cgroup walk keep theirs.
const MAX_CLIENTS: usize = 16;
/// How long one client may take, from its accept to the last byte of the answer.
const CLIENT_TIME: Duration = Duration::from_secs(2);
/// How long a metrics client has to send its request (which is not read anyway).
const REQUEST_TIME: Duration = Duration::from_millis(500);
/// Before the next accept, after one failed (no descriptor left, say).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "control socket {path}: another daemon answers there; stop it, or give this one another \
         --control-socket"
    )]
    Live { path: PathBuf },
    #[error("control socket {path} exists and is not a socket ({kind}); refusing to replace it")]
    NotSocket { path: PathBuf, kind: &'static str },
}

/// The socket this daemon listens on; removed when dropped, unless something else took its
/// place meanwhile.
pub struct ControlSocket {
    path: PathBuf,
    inode: (u64, u64),
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == self.inode)
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn kind(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "a device or FIFO"
    }
}

/// Listens on `path` (mode 0600) and answers every connection with the status as JSON. A socket
/// left there by a daemon that died is replaced; one a live daemon answers on, or anything that
/// is not a socket, is refused.
pub async fn serve_control(path: &Path, status: Shared) -> Result<ControlSocket, ControlError> {
    let err = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
        Ok(meta) if meta.file_type().is_socket() => {
            match tokio::time::timeout(CLIENT_TIME, UnixStream::connect(path)).await {
                // Nobody listens: a daemon that died left it.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                    match std::fs::remove_file(path) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(err(e)),
                        _ => {}
                    }
                }
                Ok(Err(e)) => return Err(err(e)),
                // Answered, or accepted and too busy to answer: alive either way.
                Ok(Ok(_)) | Err(_) => {
                    return Err(ControlError::Live {
                        path: path.to_owned(),
                    })
                }
            }
        }
        Ok(meta) => {
            return Err(ControlError::NotSocket {
                path: path.to_owned(),
                kind: kind(meta.file_type()),
            })
        }
    }
    // Created 0600 from the start: no window in which another user could connect.
    let old = unsafe { libc::umask(0o177) };
    let listener = UnixListener::bind(path);
    unsafe { libc::umask(old) };
    let listener = listener.map_err(err)?;
    let meta = std::fs::symlink_metadata(path).map_err(err)?;
    let socket = ControlSocket {
        path: path.to_owned(),
        inode: (meta.dev(), meta.ino()),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    tokio::spawn(async move {
        let clients = Arc::new(Semaphore::new(MAX_CLIENTS));
        loop {
            let (permit, (mut stream, _)) = admit(&clients, || listener.accept()).await;
            let text = serde_json::to_string(&*status.lock().expect("status lock"))
                .expect("status serialises");
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CLIENT_TIME, stream.write_all(text.as_bytes())).await;
                drop(permit);
            });
        }
    });
    Ok(socket)
}

/// Serves Prometheus text to any HTTP request on `listener`.
pub fn serve_metrics(listener: TcpListener, status: Shared) {
    tokio::spawn(async move {
        let clients = Arc::new(Semaphore::new(MAX_CLIENTS));
        loop {
            let (permit, (mut stream, _)) = admit(&clients, || listener.accept()).await;
            let status = status.clone();
            tokio::spawn(async move {
                let answer = async {
                    // Only the request line matters; read what has arrived of it.
                    let mut buf = [0u8; 1024];
                    let len = match tokio::time::timeout(REQUEST_TIME, stream.read(&mut buf)).await
                    {
                        Ok(Ok(n)) => n,
                        _ => 0,
                    };
                    let request = String::from_utf8_lossy(&buf[..len]);
                    let response =
                        respond(&request, &status.lock().expect("status lock"), unix_now());
                    stream.write_all(response.as_bytes()).await
                };
                let _ = tokio::time::timeout(CLIENT_TIME, answer).await;
                drop(permit);
            });
        }
    });
}

/// The next client of `accept`, once fewer than `MAX_CLIENTS` are being served (the permit
/// counts it until dropped).
async fn admit<T, F>(clients: &Arc<Semaphore>, accept: impl Fn() -> F) -> (OwnedSemaphorePermit, T)
where
    F: std::future::Future<Output = io::Result<T>>,
{
    loop {
        let permit = clients
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        match accept().await {
            Ok(client) => return (permit, client),
            Err(_) => {
                drop(permit);
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

/// A scan runs every second or so: a daemon that has not scanned for this long is stuck.
pub const HEALTHY_WITHIN_SECS: u64 = 30;

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The HTTP answer to `request` (its first line decides): `/healthz` for probes (200 while
/// scans go on, 503 once they stopped), anything else the metrics.
pub fn respond(request: &str, status: &Status, now: u64) -> String {
    let path = request
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or("/metrics");
    let (code, content_type, body) = if path == "/healthz" {
        let age = now.saturating_sub(status.last_scan);
        if status.scans > 0 && age <= HEALTHY_WITHIN_SECS {
            ("200 OK", "text/plain", "ok\n".to_owned())
        } else {
            (
                "503 Service Unavailable",
                "text/plain",
                format!("no scan for {age} s\n"),
            )
        }
    } else {
        ("200 OK", "text/plain; version=0.0.4", status.metrics())
    };
    format!(
        "HTTP/1.0 {code}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `profile status`: the daemon's status from its control socket.
pub fn query(path: &Path) -> io::Result<Status> {
    use std::io::Read as _;
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_scans() {
        let mut status = Status::default();
        let answer = |s: &Status, now| respond("GET /healthz HTTP/1.1\r\nHost: x\r\n", s, now);
        assert!(answer(&status, 100).starts_with("HTTP/1.0 503"));
        status.scans = 3;
        status.last_scan = 100;
        assert!(answer(&status, 110).starts_with("HTTP/1.0 200 OK"));
        assert!(answer(&status, 100 + HEALTHY_WITHIN_SECS + 1).starts_with("HTTP/1.0 503"));
        let metrics = respond("GET /metrics HTTP/1.1\r\n", &status, 110);
        assert!(metrics.contains("profile_daemon_scans_total"), "{metrics}");
        assert_eq!(respond("", &status, 110), metrics);
    }

    #[test]
    fn workloads_show_their_replicas() {
        let status = Status {
            workload_list: vec![WorkloadStatus {
                name: "shop_web_app".to_owned(),
                kubernetes: Some("shop/web/app".to_owned()),
                replicas: 3,
                live: 2,
                partial: 0,
                syscalls: 40,
                written: true,
                denials: vec![
                    DenialStatus {
                        syscall: "getppid".to_owned(),
                        arch: "x86_64".to_owned(),
                        count: 3,
                        verdict: "added".to_owned(),
                        ..DenialStatus::default()
                    },
                    DenialStatus {
                        syscall: "clone3".to_owned(),
                        arch: "x86_64".to_owned(),
                        count: 9,
                        verdict: "expected".to_owned(),
                        ..DenialStatus::default()
                    },
                ],
                proposal: Some("shop_web_app.proposed.json".to_owned()),
            }],
            ..Status::default()
        };
        let metrics = status.metrics();
        assert!(metrics.contains("profile_daemon_workload_replicas{workload=\"shop_web_app\"} 3\n"));
        assert!(metrics
            .contains("profile_daemon_workload_live_replicas{workload=\"shop_web_app\"} 2\n"));
        assert!(status
            .to_text()
            .contains("  shop_web_app (shop/web/app)  replicas 3 (2 live)  syscalls 40\n"));
        // Only what the profile does not block on purpose is a denial to alert on.
        assert!(metrics.contains(
            "profile_daemon_denied_total{workload=\"shop_web_app\",syscall=\"getppid\"} 3\n"
        ));
        assert!(!metrics.contains("syscall=\"clone3\""), "{metrics}");
        let text = status.to_text();
        assert!(
            text.contains("    denied getppid (x86_64) 3 calls"),
            "{text}"
        );
        assert!(
            text.contains("    proposal: shop_web_app.proposed.json\n"),
            "{text}"
        );
        let mut partial = status.clone();
        partial.workload_list[0].partial = 1;
        assert!(partial.to_text().contains(
            "replicas 3 (2 live, 1 partial: recorded mid-life, start-up missing)  syscalls 40"
        ));
    }
}
