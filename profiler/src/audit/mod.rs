//! `profile audit`: collect the kernel's seccomp audit records (what a staged `SCMP_ACT_LOG`
//! profile would have blocked, or what an enforcing one did block), group and count them, and
//! turn them into a profile for `profile merge` or a report.
//!
//! `parse` reads records (pure); `source` reads them from the audit netlink group, auditd's
//! log or the kernel log, and `cgroups` resolves pids to cgroups (the only kernel-facing code).
//! This module filters, drops duplicates, groups and renders.
pub mod cgroups;
pub mod parse;
pub mod render;
pub mod source;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

pub use parse::{Line, Record, RecordId, SeccompAction};
pub use source::{collect, Options, SourceChoice};

use crate::{
    profile::{Action, Profile, SyscallRule},
    syscalls::Arch,
};

/// Which records to keep. Empty lists match everything; within a list any entry may match,
/// and every non-empty list must match.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub pids: Vec<u32>,
    /// The executable's path, its file name, or the command name (`comm`).
    pub exes: Vec<String>,
    /// A cgroup v2 path (as in /proc/PID/cgroup), matching it and everything below it.
    pub cgroups: Vec<String>,
    /// A substring of the cgroup path (container runtimes put the container id there).
    pub containers: Vec<String>,
}

impl Filters {
    pub fn matches(&self, record: &Record, cgroup: Option<&str>) -> bool {
        let exe_matches = |want: &String| {
            record
                .exe
                .as_deref()
                .is_some_and(|exe| exe == want || exe.rsplit('/').next() == Some(want.as_str()))
                || record.comm.as_deref() == Some(want.as_str())
        };
        let cgroup_matches = |want: &String| {
            let want = want.trim_end_matches('/');
            cgroup.is_some_and(|path| {
                want.is_empty()
                    || path == want
                    || path
                        .strip_prefix(want)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        };
        (self.pids.is_empty() || self.pids.contains(&record.pid))
            && (self.exes.is_empty() || self.exes.iter().any(exe_matches))
            && (self.cgroups.is_empty() || self.cgroups.iter().any(cgroup_matches))
            && (self.containers.is_empty()
                || self
                    .containers
                    .iter()
                    .any(|id| cgroup.is_some_and(|path| path.contains(id.as_str()))))
    }
}

/// Records are grouped by what was called, what the filter did, and who called it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub arch: Arch,
    pub nr: u64,
    pub action: SeccompAction,
    pub exe: String,
    pub cgroup: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub count: u64,
    pub pids: BTreeSet<u32>,
}

/// Everything a collection saw.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    pub groups: BTreeMap<GroupKey, Group>,
    /// Seccomp records read, before filtering and duplicate removal.
    pub records: u64,
    pub filtered_out: u64,
    pub duplicates: u64,
    pub malformed: u64,
    /// The first malformed line and why.
    pub first_malformed: Option<(String, String)>,
    /// Kernel log only: audit lines printk's rate limit dropped (`callbacks suppressed`).
    pub suppressed: u64,
    /// Netlink only: times the socket's buffer overflowed (ENOBUFS); records were lost.
    pub overflows: u64,
    /// Kernel log only: times records were overwritten before we read them (EPIPE).
    pub overwritten: u64,
}

/// How many record ids are remembered to drop duplicates.
const DEDUP_WINDOW: usize = 65536;

/// Turns lines into findings: filters, drops duplicate records (same `audit(…)` stamp), groups.
pub struct Collector {
    filters: Filters,
    pub findings: Findings,
    seen: HashSet<RecordId>,
    order: VecDeque<RecordId>,
}

impl Collector {
    pub fn new(filters: Filters) -> Collector {
        Collector {
            filters,
            findings: Findings::default(),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Adds one parsed line; `raw` is kept for the report of the first malformed line, and
    /// `cgroup` resolves the record's pid (called once per new record).
    pub fn add(
        &mut self,
        line: Line,
        raw: impl FnOnce() -> String,
        cgroup: impl FnOnce(&Record) -> Option<String>,
    ) {
        let record = match line {
            Line::Seccomp(record) => record,
            Line::Other => return,
            Line::Suppressed(n) => {
                // The number is the log's word, whatever it says.
                self.findings.suppressed = self.findings.suppressed.saturating_add(n);
                return;
            }
            Line::Malformed(reason) => {
                let findings = &mut self.findings;
                findings.malformed += 1;
                if findings.first_malformed.is_none() {
                    findings.first_malformed = Some((reason, raw()));
                }
                return;
            }
        };
        self.findings.records += 1;
        if !self.seen.insert(record.id) {
            self.findings.duplicates += 1;
            return;
        }
        self.order.push_back(record.id);
        if self.order.len() > DEDUP_WINDOW {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        let cgroup = cgroup(&record);
        if !self.filters.matches(&record, cgroup.as_deref()) {
            self.findings.filtered_out += 1;
            return;
        }
        let key = GroupKey {
            arch: record.arch,
            nr: record.nr,
            action: record.action,
            exe: record
                .exe
                .clone()
                .or_else(|| record.comm.clone())
                .unwrap_or_else(|| "?".into()),
            cgroup: cgroup.unwrap_or_else(|| "?".into()),
        };
        let group = self.findings.groups.entry(key).or_default();
        group.count += 1;
        group.pids.insert(record.pid);
    }
}

/// A syscall number that no table names: it cannot go into a profile by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unnamed {
    pub arch: Arch,
    pub nr: u64,
    pub count: u64,
}

impl Findings {
    /// Records kept (after filters and duplicates).
    pub fn kept(&self) -> u64 {
        self.groups.values().map(|g| g.count).sum()
    }

    /// Records by action, in a fixed order.
    pub fn by_action(&self) -> BTreeMap<SeccompAction, u64> {
        let mut counts = BTreeMap::new();
        for (key, group) in &self.groups {
            *counts.entry(key.action).or_default() += group.count;
        }
        counts
    }

    /// Numbers seen that have no name in their architecture's table.
    pub fn unnamed(&self) -> Vec<Unnamed> {
        let mut counts: BTreeMap<(Arch, u64), u64> = BTreeMap::new();
        for (key, group) in &self.groups {
            if key.arch.name(key.nr).is_none() {
                *counts.entry((key.arch, key.nr)).or_default() += group.count;
            }
        }
        counts
            .into_iter()
            .map(|((arch, nr), count)| Unnamed { arch, nr, count })
            .collect()
    }

    /// The profile of what was caught: default SCMP_ACT_ERRNO (errno 1, as `profile record`
    /// writes), the architectures seen, and one SCMP_ACT_ALLOW rule naming every syscall a
    /// record showed, whatever its action (LOG: would have been blocked; ERRNO, KILL…: was
    /// blocked). This is what `profile merge` folds into the recorded profile.
    pub fn to_profile(&self) -> Profile {
        let names: BTreeSet<&str> = self
            .groups
            .keys()
            .filter(|key| key.action != SeccompAction::Allow)
            .filter_map(|key| key.arch.name(key.nr))
            .collect();
        // Only ABIs with a named syscall to allow: a record of a number no table names (an
        // attacker's probe, say) must not open every allowed name to its ABI.
        let mut architectures: Vec<Arch> = self
            .groups
            .keys()
            .filter(|key| key.action != SeccompAction::Allow && key.arch.name(key.nr).is_some())
            .map(|key| key.arch)
            .collect();
        architectures.sort();
        architectures.dedup();
        if architectures.is_empty() {
            architectures.push(Arch::NATIVE);
        }
        let syscalls = if names.is_empty() {
            Vec::new()
        } else {
            vec![SyscallRule {
                names: names.into_iter().map(str::to_owned).collect(),
                action: Action::Allow,
                ..SyscallRule::default()
            }]
        };
        Profile {
            default_action: Action::Errno,
            default_errno_ret: Some(1),
            architectures,
            syscalls,
            ..Profile::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parse::{parse_body, parse_kmsg, parse_log_line};

    fn line(serial: u64, pid: u32, exe: &str, arch: &str, nr: u64, code: &str) -> Line {
        parse_body(&format!(
            "audit(1795379407.866:{serial}): auid=4294967295 uid=0 gid=0 ses=4294967295 \
             pid={pid} comm=\"x\" exe=\"{exe}\" sig=0 arch={arch} syscall={nr} compat=0 \
             ip=0x7f6dc2b71829 code={code}"
        ))
    }

    fn collect(filters: Filters, lines: Vec<(Line, Option<&str>)>) -> Findings {
        let mut collector = Collector::new(filters);
        for (line, cgroup) in lines {
            collector.add(line, || "raw".into(), |_| cgroup.map(str::to_owned));
        }
        collector.findings
    }

    fn sample() -> Vec<(Line, Option<&'static str>)> {
        vec![
            (
                line(1, 10, "/bin/a", "c000003e", 110, "0x7ffc0000"),
                Some("/a.slice"),
            ),
            (
                line(2, 10, "/bin/a", "c000003e", 110, "0x7ffc0000"),
                Some("/a.slice"),
            ),
            (
                line(3, 11, "/bin/a", "c000003e", 110, "0x7ffc0000"),
                Some("/a.slice"),
            ),
            // The same record twice (same stamp): counted once.
            (
                line(3, 11, "/bin/a", "c000003e", 110, "0x7ffc0000"),
                Some("/a.slice"),
            ),
            (
                line(4, 12, "/bin/b", "40000003", 64, "0x7ffc0000"),
                Some("/docker/abc123def"),
            ),
            (
                line(5, 12, "/bin/b", "c000003e", 99, "0x50000"),
                Some("/docker/abc123def"),
            ),
            (line(6, 13, "/bin/c", "c000003e", 999, "0x7ffc0000"), None),
            (Line::Malformed("cut".into()), None),
            (Line::Other, None),
            (
                parse_kmsg("4,1,1,-;kauditd_printk_skb: 7 callbacks suppressed"),
                None,
            ),
        ]
    }

    #[test]
    fn suppressed_counts_do_not_overflow() {
        let huge =
            || parse_kmsg("4,1,1,-;kauditd_printk_skb: 18446744073709551615 callbacks suppressed");
        let findings = collect(Filters::default(), vec![(huge(), None), (huge(), None)]);
        assert_eq!(findings.suppressed, u64::MAX);
    }

    #[test]
    fn groups_dedupes_and_counts() {
        let findings = collect(Filters::default(), sample());
        assert_eq!(findings.records, 7);
        assert_eq!(findings.duplicates, 1);
        assert_eq!(findings.malformed, 1);
        assert_eq!(findings.suppressed, 7);
        assert_eq!(findings.kept(), 6);
        let getppid = &findings.groups[&GroupKey {
            arch: Arch::X86_64,
            nr: 110,
            action: SeccompAction::Log,
            exe: "/bin/a".into(),
            cgroup: "/a.slice".into(),
        }];
        assert_eq!(getppid.count, 3);
        assert_eq!(getppid.pids, BTreeSet::from([10, 11]));
        assert_eq!(
            findings.unnamed(),
            [Unnamed {
                arch: Arch::X86_64,
                nr: 999,
                count: 1
            }]
        );
    }

    #[test]
    fn profile_allows_every_name_seen_for_every_arch_seen() {
        let profile = collect(Filters::default(), sample()).to_profile();
        let expected = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "architectures": [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86"
  ],
  "syscalls": [
    {
      "names": [
        "getppid",
        "sysinfo"
      ],
      "action": "SCMP_ACT_ALLOW"
    }
  ]
}
"#;
        assert_eq!(profile.to_json(), expected);
        // Nothing seen: a valid profile that adds nothing when merged.
        let empty = Findings::default().to_profile();
        assert!(empty.syscalls.is_empty());
        assert_eq!(empty.architectures, [Arch::X86_64]);
    }

    /// One record of an i386 number no table names must not open every allowed name to
    /// `int $0x80` once the findings are merged and promoted.
    #[test]
    fn numbers_without_a_name_add_no_architecture() {
        let findings = collect(
            Filters::default(),
            vec![
                (line(1, 10, "/bin/a", "c000003e", 110, "0x7ffc0000"), None),
                (line(2, 10, "/bin/a", "40000003", 5000, "0x0"), None),
                (line(3, 10, "/bin/a", "c000003e", 0x4000_0fa0, "0x0"), None),
            ],
        );
        assert_eq!(findings.to_profile().architectures, [Arch::X86_64]);
        assert_eq!(findings.unnamed().len(), 2);
    }

    #[test]
    fn filters() {
        let by = |filters: Filters| {
            let findings = collect(filters, sample());
            let pids: BTreeSet<u32> = findings
                .groups
                .values()
                .flat_map(|g| g.pids.clone())
                .collect();
            (pids, findings.filtered_out)
        };
        let f = |pids: &[u32], exes: &[&str], cgroups: &[&str], containers: &[&str]| Filters {
            pids: pids.to_vec(),
            exes: exes.iter().map(|s| s.to_string()).collect(),
            cgroups: cgroups.iter().map(|s| s.to_string()).collect(),
            containers: containers.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(by(f(&[12], &[], &[], &[])), (BTreeSet::from([12]), 4));
        assert_eq!(
            by(f(&[], &["/bin/a"], &[], &[])).0,
            BTreeSet::from([10, 11])
        );
        assert_eq!(by(f(&[], &["b"], &[], &[])).0, BTreeSet::from([12]));
        assert_eq!(by(f(&[], &[], &["/docker"], &[])).0, BTreeSet::from([12]));
        // A path prefix matches whole components only.
        assert_eq!(by(f(&[], &[], &["/dock"], &[])).0, BTreeSet::new());
        assert_eq!(by(f(&[], &[], &["/"], &[])).0, BTreeSet::from([10, 11, 12]));
        assert_eq!(by(f(&[], &[], &[], &["abc123"])).0, BTreeSet::from([12]));
        assert_eq!(by(f(&[10, 12], &["a"], &[], &[])).0, BTreeSet::from([10]));
    }

    #[test]
    fn report_table() {
        let report = render::report(&collect(Filters::default(), sample()));
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines.len(), 6, "{report}");
        let fields = |i: usize| lines[i].split_whitespace().collect::<Vec<_>>();
        assert_eq!(
            fields(0),
            ["ARCH", "SYSCALL", "NR", "ACTION", "COUNT", "EXE", "CGROUP", "PIDS"]
        );
        assert_eq!(
            fields(1),
            [
                "x86_64",
                "(unknown)",
                "999",
                "LOG",
                "1",
                "/bin/c",
                "?",
                "13"
            ]
        );
        assert_eq!(
            fields(2),
            ["x86_64", "getppid", "110", "LOG", "3", "/bin/a", "/a.slice", "10,11"]
        );
        assert_eq!(
            fields(3),
            [
                "x86_64",
                "sysinfo",
                "99",
                "ERRNO",
                "1",
                "/bin/b",
                "/docker/abc123def",
                "12"
            ]
        );
        assert_eq!(
            fields(4),
            [
                "i386",
                "getppid",
                "64",
                "LOG",
                "1",
                "/bin/b",
                "/docker/abc123def",
                "12"
            ]
        );
        assert_eq!(
            lines[5],
            "4 distinct syscalls, 6 records from 4 processes (ERRNO 1, LOG 5), 1 duplicates dropped, 1 malformed lines skipped"
        );
        // Columns line up: every row's ACTION starts where the header's does.
        let col = lines[0].find("ACTION").unwrap();
        for row in &lines[1..5] {
            assert!(
                row[col..].starts_with(|c: char| c.is_ascii_uppercase()),
                "{report}"
            );
        }
    }

    #[test]
    fn auditd_lines_flow_through() {
        let findings = collect(
            Filters::default(),
            vec![(
                parse_log_line(
                    "type=SECCOMP msg=audit(1795379407.866:649): pid=1 comm=\"a\" exe=\"/a\" \
                     sig=0 arch=c000003e syscall=39 compat=0 ip=0x1 code=0x80000000\x1dARCH=x86_64",
                ),
                None,
            )],
        );
        assert_eq!(
            findings.by_action(),
            BTreeMap::from([(SeccompAction::KillProcess, 1)])
        );
    }
}
