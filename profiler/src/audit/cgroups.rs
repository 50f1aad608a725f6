//! The cgroup of the process behind an audit record, read from /proc when the record arrives.
use std::{collections::HashMap, fs};

use super::parse::{self, Record};

/// pid → cgroup, looked up when a record arrives (the process may be gone later). A process
/// that started after the record was made is not the one that made it (the pid was reused):
/// its cgroup is not used. Records often arrive after their process exited (the kernel's audit
/// queue lags behind a burst): the cgroup seen for the pid earlier is used then.
pub struct CgroupResolver {
    boot_time: Option<u64>,
    ticks_per_sec: u64,
    /// pid → (start in ticks after boot, start in seconds since the epoch, cgroup).
    cache: HashMap<u32, (u64, u64, Option<String>)>,
}

impl CgroupResolver {
    pub fn new() -> CgroupResolver {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        CgroupResolver {
            boot_time: fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|stat| parse::boot_time(&stat)),
            ticks_per_sec: u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100),
            cache: HashMap::new(),
        }
    }

    pub fn resolve(&mut self, record: &Record) -> Option<String> {
        // One second of slack for the clocks' rounding.
        let made_by = |started: u64| started <= record.time_secs() + 1;
        let start_ticks = fs::read_to_string(format!("/proc/{}/stat", record.pid))
            .ok()
            .and_then(|stat| parse::stat_start_ticks(&stat));
        let Some(start_ticks) = start_ticks else {
            // Gone: the process we saw under this pid, if it had started by then.
            return match self.cache.get(&record.pid) {
                Some((_, started, cgroup)) if made_by(*started) => cgroup.clone(),
                _ => None,
            };
        };
        let started = self
            .boot_time
            .map_or(0, |boot| boot + start_ticks / self.ticks_per_sec);
        if !made_by(started) {
            return None;
        }
        if let Some((ticks, _, cgroup)) = self.cache.get(&record.pid) {
            if *ticks == start_ticks {
                return cgroup.clone();
            }
        }
        let cgroup = fs::read_to_string(format!("/proc/{}/cgroup", record.pid))
            .ok()
            .and_then(|text| parse::cgroup_path(&text));
        if self.cache.len() > 65536 {
            self.cache.clear();
        }
        self.cache
            .insert(record.pid, (start_ticks, started, cgroup.clone()));
        cgroup
    }
}

impl Default for CgroupResolver {
    fn default() -> Self {
        CgroupResolver::new()
    }
}
