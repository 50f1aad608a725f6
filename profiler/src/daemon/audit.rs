//! The daemon's second source of denials: the kernel's seccomp audit records, which exist for
//! the actions a filter logs (KILL always; ERRNO, TRAP… only under SECCOMP_FILTER_FLAG_LOG, as
//! `profile run` and crun install it). They name the executable and the action, which the exit
//! hook cannot, and they are the only trace of calls that killed their caller.
//!
//! A thread reads them from the source `profile audit` would choose (the audit netlink group,
//! else auditd's log or the kernel log, new records only) and counts them per (process, ABI,
//! syscall, action); each scan takes what it counted. The batch is bounded: a workload denied in
//! a tight loop costs one entry and a count, and records beyond `MAX_KEYS` distinct keys in one
//! batch are counted as dropped, never held.
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::Duration,
};

use crate::{
    audit::{
        source::{self, Reader, Sink},
        Line, SeccompAction, SourceChoice,
    },
    syscalls::Arch,
};

/// Distinct (process, ABI, syscall, action) keys one batch holds.
const MAX_KEYS: usize = 4096;
/// How long the thread waits for records before it looks at its stop flag again.
const POLL: Duration = Duration::from_millis(200);

/// Records of one process's calls of one syscall that the filter stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub pid: u32,
    pub arch: Arch,
    pub nr: u64,
    pub action: SeccompAction,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    pub count: u64,
    /// Milliseconds since the epoch, of the first and the last record.
    pub first: u64,
    pub last: u64,
    pub comm: Option<String>,
    pub exe: Option<String>,
}

/// What the thread read since the last [`AuditWatch::take`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub denials: HashMap<Key, Calls>,
    /// Seccomp records read (denials and the LOG records of staged profiles alike).
    pub records: u64,
    /// Records of denials not kept: the batch had `MAX_KEYS` others.
    pub dropped: u64,
    pub malformed: u64,
    /// Netlink: times the socket's buffer overflowed. Kernel log: times records were
    /// overwritten before they were read, and lines printk's rate limit suppressed.
    pub overflows: u64,
    pub overwritten: u64,
    pub suppressed: u64,
}

impl Batch {
    /// Records the source lost before they reached the daemon, as far as it can tell.
    pub fn lost(&self) -> u64 {
        self.overflows + self.overwritten + self.suppressed
    }

    fn merge(&mut self, other: Batch) {
        for (key, calls) in other.denials {
            self.add(key, calls);
        }
        self.records += other.records;
        self.dropped += other.dropped;
        self.malformed += other.malformed;
        self.overflows += other.overflows;
        self.overwritten += other.overwritten;
        self.suppressed = self.suppressed.saturating_add(other.suppressed);
    }

    fn add(&mut self, key: Key, calls: Calls) {
        if let Some(known) = self.denials.get_mut(&key) {
            known.count += calls.count;
            known.first = known.first.min(calls.first);
            if calls.last >= known.last {
                known.last = calls.last;
                known.comm = calls.comm.or(known.comm.take());
                known.exe = calls.exe.or(known.exe.take());
            }
        } else if self.denials.len() < MAX_KEYS {
            self.denials.insert(key, calls);
        } else {
            self.dropped += calls.count;
        }
    }
}

impl Sink for Batch {
    fn line(&mut self, line: Line, _raw: &[u8]) {
        match line {
            Line::Seccomp(record) => {
                self.records += 1;
                // LOG lets the call through (a staged profile): the learning side has it.
                if record.action.let_through() {
                    return;
                }
                let at = record.id.millis;
                self.add(
                    Key {
                        pid: record.pid,
                        arch: record.arch,
                        nr: record.nr,
                        action: record.action,
                    },
                    Calls {
                        count: 1,
                        first: at,
                        last: at,
                        comm: record.comm,
                        exe: record.exe,
                    },
                );
            }
            Line::Other => {}
            Line::Suppressed(n) => self.suppressed = self.suppressed.saturating_add(n),
            Line::Malformed(_) => self.malformed += 1,
        }
    }

    fn overflowed(&mut self) {
        self.overflows += 1;
    }

    fn overwritten(&mut self) {
        self.overwritten += 1;
    }
}

/// The reading thread; stopped and joined when dropped.
pub struct AuditWatch {
    /// The source's name, for the status.
    pub source: String,
    batch: Arc<Mutex<Batch>>,
    /// Why the thread ended early (a read that failed), for the status.
    failed: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AuditWatch {
    /// Opens `choice` for new records and starts reading it.
    pub fn start(choice: &SourceChoice) -> anyhow::Result<AuditWatch> {
        let mut reader = source::open(choice, true, true)?;
        let source = reader.name();
        let batch = Arc::new(Mutex::new(Batch::default()));
        let failed = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (batch, failed, stop) = (batch.clone(), failed.clone(), stop.clone());
            std::thread::Builder::new()
                .name("audit".to_owned())
                .spawn(move || {
                    if let Err(err) = read(reader.as_mut(), &batch, &stop) {
                        *failed.lock().expect("audit failure lock") = Some(format!("{err:#}"));
                    }
                })?
        };
        Ok(AuditWatch {
            source,
            batch,
            failed,
            stop,
            thread: Some(thread),
        })
    }

    /// What was read since the last call.
    pub fn take(&self) -> Batch {
        std::mem::take(&mut *self.batch.lock().expect("audit batch lock"))
    }

    /// Why reading stopped, once it did.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().expect("audit failure lock").clone()
    }
}

impl Drop for AuditWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads until `stop`, handing each part read to `shared`.
fn read(reader: &mut dyn Reader, shared: &Mutex<Batch>, stop: &AtomicBool) -> anyhow::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let mut part = Batch::default();
        reader.drain(&mut part)?;
        shared.lock().expect("audit batch lock").merge(part);
        if reader.has_more() {
            continue;
        }
        match reader.poll_fd() {
            Some(fd) => {
                source::wait(Some(fd), -1, Some(POLL))?;
            }
            None => std::thread::sleep(POLL),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::parse::parse_body;

    fn record(serial: u64, pid: u32, nr: u64, code: &str) -> Line {
        parse_body(&format!(
            "audit(1795379407.{:03}:{serial}): auid=0 uid=0 gid=0 ses=1 pid={pid} \
             comm=\"app\" exe=\"/bin/app\" sig=0 arch=c000003e syscall={nr} compat=0 \
             ip=0x1 code={code}",
            serial % 1000
        ))
    }

    #[test]
    fn a_loop_of_denials_is_one_entry_and_staging_records_are_not_denials() {
        let mut batch = Batch::default();
        for serial in 0..1000 {
            batch.line(record(serial, 7, 110, "0x50000"), b"");
        }
        batch.line(record(1000, 7, 39, "0x7ffc0000"), b"");
        batch.line(record(1001, 8, 39, "0x80000000"), b"");
        batch.line(Line::Suppressed(3), b"");
        assert_eq!(batch.records, 1002);
        assert_eq!(batch.denials.len(), 2);
        let getppid = &batch.denials[&Key {
            pid: 7,
            arch: Arch::X86_64,
            nr: 110,
            action: SeccompAction::Errno(0),
        }];
        assert_eq!(getppid.count, 1000);
        assert_eq!(
            (getppid.first, getppid.last),
            (1_795_379_407_000, 1_795_379_407_999)
        );
        assert_eq!(getppid.exe.as_deref(), Some("/bin/app"));
        assert_eq!(batch.lost(), 3);
    }

    #[test]
    fn a_full_batch_counts_what_it_drops() {
        let mut batch = Batch::default();
        for pid in 0..MAX_KEYS as u32 + 10 {
            batch.line(record(1, pid, 110, "0x50000"), b"");
        }
        assert_eq!(batch.denials.len(), MAX_KEYS);
        assert_eq!(batch.dropped, 10);
        // A known key still counts.
        batch.line(record(2, 0, 110, "0x50000"), b"");
        assert_eq!(batch.dropped, 10);
        let mut total = Batch::default();
        total.merge(batch.clone());
        total.merge(batch);
        assert_eq!(total.dropped, 20);
    }
}
