//! Where seccomp records come from: with [`cgroups`](super::cgroups), the only kernel-facing
//! code of `profile audit`.
//!
//! - the audit netlink multicast group (`NETLINK_AUDIT`, group 1 `AUDIT_NLGRP_READLOG`, needs
//!   CAP_AUDIT_READ): every record, whether or not auditd runs, but only from the moment we
//!   listen;
//! - auditd's log, where records go when auditd runs;
//! - the kernel log (`/dev/kmsg`) when nothing else is there: printk keeps only 10 audit lines
//!   per 5 s, so records may be missing (the `callbacks suppressed` lines count some of them).
mod netlink;

use std::{
    fs::{self, File},
    io::{self, Read as _, Seek as _, SeekFrom},
    mem,
    os::{
        fd::{AsRawFd, OwnedFd, RawFd},
        unix::fs::MetadataExt as _,
    },
    path::{Path, PathBuf},
    str::FromStr,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};

pub use self::netlink::kernel_lost;
use self::netlink::Netlink;
pub use super::cgroups::CgroupResolver;
use super::{
    parse::{self, Line},
    Collector, Filters, Findings,
};
use crate::sys::Signals;

/// auditd's default log.
pub const AUDIT_LOG: &str = "/var/log/audit/audit.log";
/// How often a followed log file is checked for new lines.
const FILE_POLL: Duration = Duration::from_millis(200);

/// `--source`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceChoice {
    Auto,
    Netlink,
    /// auditd's log, at this path.
    File(PathBuf),
    Kmsg,
}

impl FromStr for SourceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<SourceChoice, String> {
        match s {
            "auto" => Ok(SourceChoice::Auto),
            "netlink" => Ok(SourceChoice::Netlink),
            "kmsg" => Ok(SourceChoice::Kmsg),
            "file" => Ok(SourceChoice::File(AUDIT_LOG.into())),
            _ => match s.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(SourceChoice::File(path.into())),
                _ => Err(format!(
                    "unknown source {s:?} (auto, netlink, file, file:PATH or kmsg)"
                )),
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub source: SourceChoice,
    /// Keep reading new records until a stop signal (or `duration`).
    pub follow: bool,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Skip the records already in the log file or kernel log.
    pub new_only: bool,
    pub filters: Filters,
}

impl Options {
    /// Whether new records are awaited, rather than only those already there read.
    pub fn live(&self) -> bool {
        self.follow || self.duration.is_some()
    }
}

/// Something to print on stderr whatever the log level (but not with `-q`).
fn note(message: &str) {
    if log::log_enabled!(log::Level::Warn) {
        eprintln!("profile: {message}");
    }
}

/// Collects records until the backlog is read (without `--follow`/`--duration`), the duration
/// has passed, or a stop signal arrives. The signals must have been blocked by the caller.
pub fn collect(options: &Options, signals: &Signals) -> anyhow::Result<Findings> {
    let mut reader = open(&options.source, options.live(), options.new_only)?;
    let mut sink = Collecting::new(options.filters.clone());
    let deadline = options.duration.and_then(|d| Instant::now().checked_add(d));
    if options.live() {
        note(&format!("listening on {}", reader.name()));
    } else {
        note(&format!("reading {}", reader.name()));
    }
    loop {
        reader.drain(&mut sink)?;
        if stop_requested(signals)? {
            break;
        }
        let now = Instant::now();
        let mut timeout = deadline.map(|d| d.saturating_duration_since(now));
        if timeout == Some(Duration::ZERO) {
            break;
        }
        if reader.has_more() {
            continue;
        }
        if !options.live() {
            break;
        }
        let fd = reader.poll_fd();
        if fd.is_none() {
            timeout = Some(timeout.map_or(FILE_POLL, |t| t.min(FILE_POLL)));
        }
        let (_, signal_ready) = wait(fd, signals.as_raw_fd(), timeout)?;
        if signal_ready && stop_requested(signals)? {
            break;
        }
    }
    // Records of calls made just before the stop may still be on their way from the kernel's
    // audit queue: take what arrives until the source is quiet for a moment.
    if options.live() {
        let until = Instant::now() + Duration::from_millis(500);
        reader.drain(&mut sink)?;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let quiet = Duration::from_millis(50).min(left);
            match reader.poll_fd() {
                Some(fd) => {
                    if !wait(Some(fd), -1, Some(quiet))?.0 {
                        break;
                    }
                }
                None => std::thread::sleep(quiet),
            }
            if reader.drain(&mut sink)? == 0 {
                break;
            }
        }
    }
    reader.finish(&mut sink);
    Ok(sink.collector.findings)
}

fn stop_requested(signals: &Signals) -> anyhow::Result<bool> {
    let mut stop = false;
    while let Some(sig) = signals.read().context("reading signals")? {
        log::debug!("signal {} received", sig.signo);
        stop = true;
    }
    Ok(stop)
}

/// poll(2) on the source (if it has a pollable descriptor) and the signalfd (or -1).
pub fn wait(
    source: Option<RawFd>,
    signals: RawFd,
    timeout: Option<Duration>,
) -> io::Result<(bool, bool)> {
    let mut fds = [
        libc::pollfd {
            fd: source.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: signals,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let timeout_ms = timeout.map_or(-1, |t| {
        i32::try_from(t.as_millis().max(u128::from(!t.is_zero()))).unwrap_or(i32::MAX)
    });
    // SAFETY: two initialised pollfd structs; negative fds are ignored by poll.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::Interrupted {
            Ok((false, false))
        } else {
            Err(err)
        };
    }
    Ok((fds[0].revents != 0, fds[1].revents != 0))
}

/// The reader of `source`; `live` when records made from now on are wanted (which the netlink
/// group alone carries), `new_only` to skip those already in a log.
pub fn open(source: &SourceChoice, live: bool, new_only: bool) -> anyhow::Result<Box<dyn Reader>> {
    match source {
        SourceChoice::Netlink => {
            if !live {
                bail!(
                    "the netlink source only carries records made while profile listens: \
                     add --follow or --duration (or use --source file or kmsg for past records)"
                );
            }
            Ok(Box::new(
                Netlink::open().context("listening on the audit netlink group")?,
            ))
        }
        SourceChoice::File(path) => Ok(Box::new(
            LogFile::open(path, new_only).with_context(|| format!("opening {}", path.display()))?,
        )),
        SourceChoice::Kmsg => {
            warn_kmsg();
            Ok(Box::new(Kmsg::open(new_only).context("opening /dev/kmsg")?))
        }
        SourceChoice::Auto => {
            if live {
                match Netlink::open() {
                    Ok(netlink) => {
                        note("source: netlink (the audit multicast group: every record)");
                        return Ok(Box::new(netlink));
                    }
                    Err(err) => {
                        log::warn!("cannot listen on the audit netlink group ({err}); falling back")
                    }
                }
            }
            let log = Path::new(AUDIT_LOG);
            if auditd_running() || log.exists() {
                match LogFile::open(log, new_only) {
                    Ok(file) => {
                        note(&format!("source: file:{AUDIT_LOG} (auditd's log)"));
                        return Ok(Box::new(file));
                    }
                    Err(err) => log::warn!("cannot read {AUDIT_LOG} ({err}); falling back"),
                }
            }
            note("source: kmsg (the kernel log)");
            warn_kmsg();
            Ok(Box::new(Kmsg::open(new_only).context("opening /dev/kmsg")?))
        }
    }
}

fn warn_kmsg() {
    log::warn!(
        "reading the kernel log: printk keeps only 10 audit records per 5 s, so records may be \
         missing (use --source netlink with --follow or --duration to get them all)"
    );
}

fn auditd_running() -> bool {
    ["/var/run/auditd.pid", "/run/auditd.pid"]
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .filter_map(|pid| pid.trim().parse::<u32>().ok())
        .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// A source of audit lines.
pub trait Reader: Send {
    fn name(&self) -> String;
    /// A descriptor poll(2) reports readable when there is more; `None` for a regular file.
    fn poll_fd(&self) -> Option<RawFd>;
    /// Reads what is available now, or a bounded part of it (see [`Reader::has_more`]); returns
    /// how many lines or messages were read.
    fn drain(&mut self, sink: &mut dyn Sink) -> anyhow::Result<usize>;
    /// Whether the last `drain` stopped before the end of what was there.
    fn has_more(&self) -> bool {
        false
    }
    /// Takes what is left when collecting ends (a last line without its newline).
    fn finish(&mut self, _sink: &mut dyn Sink) {}
}

/// Where the lines a [`Reader`] reads go.
pub trait Sink {
    /// One line or message, with its bytes (to show a malformed one).
    fn line(&mut self, line: Line, raw: &[u8]);
    /// The netlink socket's buffer overflowed: records were lost.
    fn overflowed(&mut self);
    /// The kernel log overwrote records before they were read.
    fn overwritten(&mut self);
}

/// `profile audit`'s sink: records filtered, deduplicated and grouped, each pid resolved to its
/// cgroup as its record arrives.
struct Collecting {
    collector: Collector,
    cgroups: CgroupResolver,
}

impl Collecting {
    fn new(filters: Filters) -> Collecting {
        Collecting {
            collector: Collector::new(filters),
            cgroups: CgroupResolver::new(),
        }
    }
}

impl Sink for Collecting {
    fn line(&mut self, line: Line, raw: &[u8]) {
        let cgroups = &mut self.cgroups;
        self.collector.add(
            line,
            || String::from_utf8_lossy(raw).trim_end().to_owned(),
            |record| cgroups.resolve(record),
        );
    }

    fn overflowed(&mut self) {
        self.collector.findings.overflows += 1;
    }

    fn overwritten(&mut self) {
        self.collector.findings.overwritten += 1;
    }
}

/// The longest log line kept: a kernel record is at most 8970 bytes, auditd's enrichment adds
/// less than that again. A longer line is counted as malformed and skipped, never held whole.
const MAX_LINE: usize = 64 << 10;
/// Read per `drain` of a log file, so that a huge or endless one (`/dev/zero`) is read in bounded
/// memory and a stop signal is seen meanwhile.
const DRAIN_BYTES: usize = 1 << 20;

/// auditd's log, read from the start (or the end with `--new-only`) and, when followed,
/// re-opened from its start when auditd rotates it.
struct LogFile {
    path: PathBuf,
    file: File,
    inode: u64,
    /// The start of a line whose newline has not been read yet.
    partial: Vec<u8>,
    /// Within a line longer than `MAX_LINE`: its rest is skipped up to the next newline.
    skipping: bool,
    /// Whether the last read stopped at `DRAIN_BYTES` rather than at the end of the file.
    more: bool,
}

impl LogFile {
    fn open(path: &Path, at_end: bool) -> io::Result<LogFile> {
        let mut file = File::open(path)?;
        let inode = file.metadata()?.ino();
        if at_end {
            file.seek(SeekFrom::End(0))?;
        }
        Ok(LogFile {
            path: path.to_owned(),
            file,
            inode,
            partial: Vec::new(),
            skipping: false,
            more: false,
        })
    }

    fn read_lines(&mut self, sink: &mut dyn Sink) -> io::Result<usize> {
        let mut chunk = vec![0; 64 << 10];
        let mut lines = 0;
        let mut read = 0;
        self.more = false;
        while read < DRAIN_BYTES {
            let n = match self.file.read(&mut chunk) {
                Ok(0) => return Ok(lines),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            read += n;
            lines += self.split(&chunk[..n], sink);
        }
        self.more = true;
        Ok(lines)
    }

    /// Takes the complete lines of `bytes` (after what `partial` holds) and keeps the rest.
    fn split(&mut self, mut bytes: &[u8], sink: &mut dyn Sink) -> usize {
        let mut lines = 0;
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|&b| b == b'\n');
            let (part, rest) = match newline {
                Some(end) => (&bytes[..end], &bytes[end + 1..]),
                None => (bytes, &[][..]),
            };
            bytes = rest;
            if !self.skipping {
                let room = MAX_LINE - self.partial.len();
                if part.len() > room {
                    // Its start is enough to show which line it was.
                    let mut start = mem::take(&mut self.partial);
                    start.extend_from_slice(&part[..room]);
                    start.truncate(200);
                    sink.line(
                        Line::Malformed(format!("a line longer than {} KiB", MAX_LINE >> 10)),
                        &start,
                    );
                    lines += 1;
                    self.skipping = true;
                } else {
                    self.partial.extend_from_slice(part);
                }
            }
            if newline.is_some() && !mem::take(&mut self.skipping) {
                lines += 1;
                self.take_partial(sink);
            }
        }
        lines
    }

    /// Parses what `partial` holds as one line.
    fn take_partial(&mut self, sink: &mut dyn Sink) {
        let raw = mem::take(&mut self.partial);
        let text = String::from_utf8_lossy(&raw);
        sink.line(parse::parse_log_line(&text), &raw);
    }
}

impl Reader for LogFile {
    fn name(&self) -> String {
        format!("file:{}", self.path.display())
    }

    fn poll_fd(&self) -> Option<RawFd> {
        None
    }

    fn drain(&mut self, sink: &mut dyn Sink) -> anyhow::Result<usize> {
        let mut lines = self
            .read_lines(sink)
            .with_context(|| format!("reading {}", self.path.display()))?;
        // Rotated (a new file under the name) or truncated: start over from its beginning.
        let position = self.file.stream_position().unwrap_or(0);
        match fs::metadata(&self.path) {
            Ok(meta) if meta.ino() != self.inode || meta.len() < position => {
                self.finish(sink);
                log::info!("{} was rotated; reading the new file", self.path.display());
                *self = LogFile::open(&self.path, false)
                    .with_context(|| format!("re-opening {}", self.path.display()))?;
                lines += self.read_lines(sink)?;
            }
            _ => {}
        }
        Ok(lines)
    }

    fn has_more(&self) -> bool {
        self.more
    }

    fn finish(&mut self, sink: &mut dyn Sink) {
        if !self.partial.is_empty() && !self.skipping {
            self.take_partial(sink);
        }
    }
}

/// The kernel log: one record per read(2).
struct Kmsg {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl Kmsg {
    fn open(at_end: bool) -> io::Result<Kmsg> {
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        let fd = OwnedFd::from(file);
        if at_end {
            // SAFETY: lseek on our descriptor; SEEK_END on /dev/kmsg skips the backlog.
            if unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_END) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Kmsg {
            fd,
            buf: vec![0; 16 << 10],
        })
    }
}

use std::os::unix::fs::OpenOptionsExt as _;

impl Reader for Kmsg {
    fn name(&self) -> String {
        "kmsg (/dev/kmsg)".into()
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn drain(&mut self, sink: &mut dyn Sink) -> anyhow::Result<usize> {
        let mut read = 0;
        loop {
            // SAFETY: reading one record into our buffer.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(read),
                    Some(libc::EINTR) => continue,
                    // The ring buffer overwrote records before we read them; reading goes on
                    // from the oldest one left.
                    Some(libc::EPIPE) => {
                        sink.overwritten();
                        continue;
                    }
                    _ => return Err(err).context("reading /dev/kmsg"),
                }
            }
            if n == 0 {
                return Ok(read);
            }
            read += 1;
            let raw = &self.buf[..n as usize];
            let text = String::from_utf8_lossy(raw);
            let line = parse::parse_kmsg(&text);
            sink.line(line, raw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names() {
        assert_eq!("auto".parse(), Ok(SourceChoice::Auto));
        assert_eq!("netlink".parse(), Ok(SourceChoice::Netlink));
        assert_eq!("kmsg".parse(), Ok(SourceChoice::Kmsg));
        assert_eq!("file".parse(), Ok(SourceChoice::File(AUDIT_LOG.into())));
        assert_eq!(
            "file:/tmp/a.log".parse(),
            Ok(SourceChoice::File("/tmp/a.log".into()))
        );
        assert!("file:".parse::<SourceChoice>().is_err());
        assert!("syslog".parse::<SourceChoice>().is_err());
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("profiler-audit-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A record stamped now, so that every live process (pid 1 included) started before it,
    /// whenever and on whichever machine the test runs.
    const LINE: &str = "type=SECCOMP msg=audit(NOW.866:SERIAL): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=1 comm=\"init\" exe=\"/sbin/init\" sig=0 arch=c000003e syscall=39 compat=0 ip=0x7f6dc2b71829 code=0x7ffc0000\x1dAUID=\"unset\" ARCH=x86_64 SYSCALL=getpid\n";

    fn line(serial: u32) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        LINE.replace("NOW", &now.to_string())
            .replace("SERIAL", &serial.to_string())
    }

    #[test]
    fn log_file_backlog_partial_lines_and_rotation() {
        let dir = scratch("file");
        let path = dir.join("audit.log");
        let text = format!(
            "{}type=SYSCALL msg=audit(1.866:1): arch=c000003e syscall=1\n{}garbage\n{}",
            line(1),
            line(2),
            // The last line is still being written.
            &line(3)[..40]
        );
        fs::write(&path, text).unwrap();
        let mut sink = Collecting::new(Filters::default());
        let mut file = LogFile::open(&path, false).unwrap();
        assert_eq!(file.drain(&mut sink).unwrap(), 4);
        assert_eq!(sink.collector.findings.kept(), 2);
        assert_eq!(sink.collector.findings.malformed, 1);
        // pid 1 is alive and started before the record: its cgroup is resolved.
        let key = sink.collector.findings.groups.keys().next().unwrap();
        assert_ne!(key.cgroup, "?");

        // The rest of the line arrives, then the file is rotated.
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut f, &line(3).as_bytes()[40..]).unwrap();
        assert_eq!(file.drain(&mut sink).unwrap(), 1);
        assert_eq!(sink.collector.findings.kept(), 3);
        fs::rename(&path, dir.join("audit.log.1")).unwrap();
        fs::write(&path, line(4)).unwrap();
        assert_eq!(file.drain(&mut sink).unwrap(), 1);
        assert_eq!(sink.collector.findings.kept(), 4);
        assert_eq!(sink.collector.findings.malformed, 1);

        // --new-only skips what is there.
        let mut file = LogFile::open(&path, true).unwrap();
        let mut sink = Collecting::new(Filters::default());
        assert_eq!(file.drain(&mut sink).unwrap(), 0);
    }

    #[test]
    fn overlong_lines_are_skipped_and_a_last_line_counts() {
        let dir = scratch("overlong");
        let path = dir.join("audit.log");
        let long = "x".repeat(MAX_LINE * 3);
        fs::write(
            &path,
            format!("{}{long}\n{}{}", line(1), line(2), line(3).trim_end()),
        )
        .unwrap();
        let mut sink = Collecting::new(Filters::default());
        let mut file = LogFile::open(&path, false).unwrap();
        assert_eq!(file.drain(&mut sink).unwrap(), 3);
        assert!(!file.has_more());
        assert_eq!(sink.collector.findings.malformed, 1);
        let (reason, raw) = sink.collector.findings.first_malformed.clone().unwrap();
        assert!(reason.contains("longer than 64 KiB"), "{reason}");
        assert_eq!(raw.len(), 200);
        assert_eq!(sink.collector.findings.kept(), 2);
        // The last line has no newline: it counts once collecting ends.
        file.finish(&mut sink);
        assert_eq!(sink.collector.findings.kept(), 3);
    }

    #[test]
    fn an_endless_file_is_read_in_bounded_parts() {
        let mut sink = Collecting::new(Filters::default());
        let mut file = LogFile::open(Path::new("/dev/zero"), false).unwrap();
        for _ in 0..20 {
            file.drain(&mut sink).unwrap();
            assert!(file.has_more());
            assert!(file.partial.capacity() <= 2 * MAX_LINE);
        }
        // One line of zeros, never ending: malformed once, then skipped.
        assert_eq!(sink.collector.findings.malformed, 1);
        file.finish(&mut sink);
        assert_eq!(sink.collector.findings.malformed, 1);
    }

    #[test]
    fn a_reused_pid_gets_no_cgroup() {
        let mut cgroups = CgroupResolver::new();
        let Line::Seccomp(mut record) = parse::parse_log_line(&line(1)) else {
            panic!()
        };
        record.pid = std::process::id();
        // A record from before this process started cannot be this process's.
        record.id.millis = 1000;
        assert_eq!(cgroups.resolve(&record), None);
        record.id.millis = u64::MAX / 2;
        assert!(cgroups.resolve(&record).is_some());
    }
}
