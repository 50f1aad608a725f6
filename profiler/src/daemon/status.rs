//! What the daemon tells about itself: errors logged once and shown until they are resolved,
//! the kernel's losses, and the status and metrics the control socket serves.
use log::{error, info};

use super::{
    control::{DenialStatus, WorkloadStatus},
    denials::{self, Verdict},
    Daemon, DaemonError, Trouble,
};

impl Daemon {
    /// Logs `text` (once while the same error repeats) and shows it in the status until what
    /// failed works again.
    pub(super) fn note_error(&mut self, trouble: Trouble, text: String) {
        if self
            .last_error
            .as_ref()
            .is_none_or(|(_, last)| *last != text)
        {
            error!("{text}");
        }
        self.last_error = Some((trouble, text));
    }

    /// What failed as `trouble` works again: its error leaves the status.
    pub(super) fn resolved(&mut self, trouble: Trouble) {
        if self.last_error.as_ref().is_some_and(|(t, _)| *t == trouble) {
            if let Some((_, was)) = self.last_error.take() {
                info!("recovered from: {was}");
            }
        }
    }

    pub(super) fn report_losses(&mut self) -> Result<(), DaemonError> {
        let losses = self.maps.losses()?;
        if losses.seen_full > self.reported.seen_full {
            error!(
                "the kernel map of cgroups is full ({} entries, --max-cgroups): {} calls of new cgroups were not counted",
                self.maps.max_cgroups,
                losses.seen_full - self.reported.seen_full
            );
        }
        if losses.odd_full > self.reported.odd_full {
            error!(
                "the table of out-of-table syscall numbers is full ({} entries, --max-odd): {} not kept",
                self.maps.max_odd,
                losses.odd_full - self.reported.odd_full
            );
        }
        if losses.denied_full > self.reported.denied_full {
            error!(
                "the kernel map of denials is full ({} entries, --max-denials): {} denied calls of new (cgroup, syscall) pairs were not counted",
                self.maps.max_denials,
                losses.denied_full - self.reported.denied_full
            );
        }
        if losses.read_failed > self.reported.read_failed {
            error!(
                "{} kernel reads failed; some calls may be counted under the wrong ABI",
                losses.read_failed - self.reported.read_failed
            );
        }
        self.reported = losses;
        Ok(())
    }

    /// The status's counters, and its list of workloads when the store changed since (so a scan
    /// that found nothing new costs nothing per workload).
    pub(super) fn update_status(&mut self, map_entries: usize) {
        let mut status = self.status.lock().expect("status lock");
        status.cgroups_tracked = map_entries;
        status.map_entries = map_entries;
        status.scans = self.scans;
        status.bitmap_reads = self.bitmap_reads;
        status.walks = self.walks;
        status.tree_changes = self.marks.map_or(status.tree_changes, |marks| marks.tree);
        status.last_scan = self.last_scan;
        status.flushes = self.flushes;
        status.profiles_written = self.written;
        status.write_errors = self.write_errors;
        status.last_error = self.last_error.as_ref().map(|(_, text)| text.clone());
        status.lost_map_full = self.reported.seen_full;
        status.lost_odd_full = self.reported.odd_full;
        status.read_failures = self.reported.read_failed;
        status.denials_lost = self.reported.denied_full + self.audit_dropped;
        status.audit = self.audit_status.clone();
        if !std::mem::take(&mut self.status_stale) {
            return;
        }
        status.workloads = self.store.workloads.len();
        status.syscalls_seen = self
            .store
            .workloads
            .values()
            .flat_map(|w| w.replicas.values())
            .map(|r| r.distinct)
            .sum();
        status.workload_list = self
            .store
            .workloads
            .iter()
            .map(|(name, w)| WorkloadStatus {
                name: name.clone(),
                kubernetes: w.replicas.values().find_map(|r| r.identity.workload_key()),
                replicas: w.replicas.len(),
                live: w.replicas.values().filter(|r| !r.removed).count(),
                partial: w.replicas.values().filter(|r| r.partial).count(),
                syscalls: w.syscalls().len(),
                written: !w.dirty,
                denials: if w.has_denials() {
                    self.denial_status(name)
                } else {
                    Vec::new()
                },
                proposal: w.proposed.then(|| {
                    let path = self.store.proposal_path(name);
                    path.display().to_string()
                }),
            })
            .collect();
        let (calls, syscalls) = status
            .workload_list
            .iter()
            .flat_map(|w| &w.denials)
            .filter(|d| !d.expected())
            .fold((0, 0), |(calls, syscalls), d| {
                (calls + d.count, syscalls + 1)
            });
        status.denied_calls = calls;
        status.denied_syscalls = syscalls;
    }

    /// A workload's denials, judged against its profile.
    fn denial_status(&self, stem: &str) -> Vec<DenialStatus> {
        let Some(judged) = self.store.judge(stem) else {
            return Vec::new();
        };
        judged
            .denials
            .iter()
            .map(|denial| {
                let last = denial.last_call();
                let (verdict, why) = match &denial.verdict {
                    Verdict::Added => ("added", None),
                    Verdict::Expected(why) => ("expected", Some(why.clone())),
                    Verdict::NotAdded(why) => ("not added", Some(why.clone())),
                };
                let mut seen_by: Vec<String> = denial
                    .replicas
                    .iter()
                    .flat_map(|(_, d)| d.seen_by())
                    .map(str::to_owned)
                    .collect();
                seen_by.sort();
                seen_by.dedup();
                DenialStatus {
                    syscall: denial.name(),
                    arch: denial.arch.short_name().to_owned(),
                    count: denial.count,
                    first: denials::format_time(denial.first),
                    last: denials::format_time(denial.last),
                    pid: last.map_or(0, |d| d.pid),
                    comm: last.map(|d| d.comm.clone()).unwrap_or_default(),
                    action: last.map(|d| d.action.clone()).unwrap_or_default(),
                    verdict: verdict.to_owned(),
                    why,
                    seen_by,
                }
            })
            .collect()
    }
}
