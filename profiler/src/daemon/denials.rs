//! What seccomp denied the workloads, and the proposals made from it. Pure: the daemon feeds it
//! what the kernel's exit hook counted and what audit records said, per cgroup (a replica); the
//! store keeps it in the meta files and writes the proposals.
//!
//! A denial is never added to a workload's profile: its calls never entered the kernel, so the
//! learning side never sees them, and the proposal (`NAME.proposed.json`) is a separate file that
//! only a human's `profile promote` (or copy) puts into force. An attacker's probing therefore
//! shows up in the status, the metrics and a proposal to review, never in what is enforced.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{
    profile::{ops, Action, Profile},
    syscalls::Arch,
};

/// What a replica was denied of one syscall, from both sources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Denied {
    pub arch: Arch,
    pub nr: u64,
    /// The name in the ABI's table, for readers (absent when the table has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscall: Option<String>,
    /// Calls the kernel's exit hook counted.
    #[serde(default)]
    pub kernel_count: u64,
    /// The kernel map's (cumulative) count when it was last read, which the next read adds to;
    /// 0 once the pinned maps were replaced.
    #[serde(default)]
    pub kernel_read: u64,
    /// Seccomp audit records of it.
    #[serde(default)]
    pub audit_count: u64,
    /// The first and the last call.
    #[serde(with = "rfc3339")]
    pub first: u64,
    #[serde(with = "rfc3339")]
    pub last: u64,
    /// The last call's process and command name, its executable (audit records only), and
    /// what the filter did (`ERRNO(1)`, `KILL_PROCESS`…).
    pub pid: u32,
    pub comm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    pub action: String,
}

impl Denied {
    /// Calls denied: both sources see the same calls (audit only those the kernel logs, the exit
    /// hook none that killed the caller), so the larger count is the number of calls.
    pub fn count(&self) -> u64 {
        self.kernel_count.max(self.audit_count)
    }

    /// Which sources saw it.
    pub fn seen_by(&self) -> Vec<&'static str> {
        let mut by = Vec::new();
        if self.kernel_count > 0 {
            by.push("kernel");
        }
        if self.audit_count > 0 {
            by.push("audit");
        }
        by
    }
}

/// Where an observation of denials comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The kernel map's count for the cgroup and syscall: cumulative while its entry lives.
    Kernel { total: u64 },
    /// This many audit records since the last observation.
    Audit { records: u64 },
}

/// One observation of calls of one syscall denied in one cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub arch: Arch,
    pub nr: u64,
    pub source: Source,
    /// Milliseconds since the epoch.
    pub first: u64,
    pub last: u64,
    pub pid: u32,
    pub comm: String,
    pub exe: Option<String>,
    pub action: String,
}

impl Observed {
    /// The record of a syscall not denied before.
    fn first_record(&self) -> Denied {
        Denied {
            arch: self.arch,
            nr: self.nr,
            syscall: self.arch.name(self.nr).map(str::to_owned),
            kernel_count: 0,
            kernel_read: 0,
            audit_count: 0,
            first: self.first,
            last: self.first,
            pid: self.pid,
            comm: self.comm.clone(),
            exe: None,
            action: String::new(),
        }
    }

    /// Adds this observation to `denied`; returns whether anything changed.
    fn apply(&self, denied: &mut Denied) -> bool {
        let new = match self.source {
            Source::Kernel { total } if total >= denied.kernel_read => {
                let new = total - denied.kernel_read;
                denied.kernel_count = denied.kernel_count.saturating_add(new);
                denied.kernel_read = total;
                new
            }
            // Fewer than read before: the entry was made anew (the pinned maps were replaced).
            Source::Kernel { total } => {
                denied.kernel_count = denied.kernel_count.saturating_add(total);
                denied.kernel_read = total;
                total
            }
            Source::Audit { records } => {
                denied.audit_count = denied.audit_count.saturating_add(records);
                records
            }
        };
        if new == 0 {
            return false;
        }
        denied.first = denied.first.min(self.first);
        let latest = self.last >= denied.last;
        if latest {
            denied.last = self.last;
            denied.pid = self.pid;
            denied.comm.clone_from(&self.comm);
            denied.action.clone_from(&self.action);
        }
        // Only audit records name the executable; the two sources' clocks differ by a few ms.
        if self.exe.is_some() && (latest || denied.exe.is_none()) {
            denied.exe.clone_from(&self.exe);
        }
        true
    }
}

/// Adds `observed` to a replica's denials (kept sorted by ABI and number); returns whether
/// anything changed.
pub fn record(denials: &mut Vec<Denied>, observed: &Observed) -> bool {
    let key = (observed.arch, observed.nr);
    match denials.binary_search_by_key(&key, |d| (d.arch, d.nr)) {
        Ok(i) => observed.apply(&mut denials[i]),
        Err(i) => {
            let mut denied = observed.first_record();
            let changed = observed.apply(&mut denied);
            if changed {
                denials.insert(i, denied);
            }
            changed
        }
    }
}

/// What the filter did, from a denied call's return value as the exit hook saw it.
pub fn action_of_return(ret: i64) -> String {
    match ret {
        // -errno (the kernel's errnos are below 4096).
        -4095..=-1 => format!("ERRNO({})", -ret),
        // TRAP rolls the call back (the number is returned), USER_NOTIF returns what the
        // supervisor says: the call was not made either way.
        _ => format!("skipped (returned {ret})"),
    }
}

/// One syscall a workload was denied, over its replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadDenial<'a> {
    pub arch: Arch,
    pub nr: u64,
    pub count: u64,
    pub first: u64,
    pub last: u64,
    /// Each replica that was denied it (its cgroup id) and what it was denied.
    pub replicas: Vec<(u64, &'a Denied)>,
    pub verdict: Verdict,
}

impl WorkloadDenial<'_> {
    /// The syscall's name, or `ABI:NUMBER` when its table has none.
    pub fn name(&self) -> String {
        match self.arch.name(self.nr) {
            Some(name) => name.to_owned(),
            None => format!("{}:{}", self.arch.short_name(), self.nr),
        }
    }

    /// The most recent call's record.
    pub fn last_call(&self) -> Option<&Denied> {
        self.replicas
            .iter()
            .map(|(_, denied)| *denied)
            .max_by_key(|denied| denied.last)
    }
}

/// What the proposal does with a denied syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed in the proposal.
    Added,
    /// The profile blocks it with a rule of its own (clone3's ENOSYS fallback): the denial is
    /// what the profile says, not something it lacks.
    Expected(String),
    /// Not added, and why: a human decides.
    NotAdded(String),
}

/// The denials of a workload's replicas, per syscall, judged against its profile `profile`
/// (what the proposal adds to); `native` is the architecture a profile's filter always covers.
/// Returns them sorted by ABI and number, and the proposal: `profile` with the added names.
pub fn judge<'a>(
    replicas: impl Iterator<Item = (u64, &'a [Denied])>,
    profile: &Profile,
    native: Arch,
) -> (Vec<WorkloadDenial<'a>>, Profile) {
    let mut by_call: BTreeMap<(Arch, u64), Vec<(u64, &'a Denied)>> = BTreeMap::new();
    for (id, denials) in replicas {
        for denied in denials {
            by_call
                .entry((denied.arch, denied.nr))
                .or_default()
                .push((id, denied));
        }
    }
    let mut filtered: BTreeSet<Arch> = profile.architectures.iter().copied().collect();
    filtered.insert(native);
    let blocking = blocking_rules(profile);
    let allowed_names = profile.names();
    // Only calls of an ABI the profile covers: allowing a name for a call its ABI's absence
    // refused would widen the profile for the ABIs it does cover.
    let candidates: BTreeSet<&str> = by_call
        .keys()
        .filter(|(arch, _)| filtered.contains(arch))
        .filter_map(|(arch, nr)| arch.name(*nr))
        .collect();
    let mut proposal = profile.clone();
    let added: BTreeSet<String> = ops::allow_unruled(&mut proposal, &candidates, native)
        .into_iter()
        .collect();
    let denials = by_call
        .into_iter()
        .map(|((arch, nr), replicas)| {
            let name = arch.name(nr);
            let verdict = match name {
                None => Verdict::NotAdded(format!(
                    "{} has no syscall {nr}: no name to allow",
                    arch.short_name()
                )),
                Some(_) if !filtered.contains(&arch) => Verdict::NotAdded(format!(
                    "the profile does not cover {} (any call of that ABI is refused); add the \
                     architecture by hand if the workload is meant to make such calls",
                    arch.scmp_name()
                )),
                Some(name) if added.contains(name) => Verdict::Added,
                Some(name) => match blocking.get(name) {
                    Some(action) => Verdict::Expected(format!("the profile's own rule: {action}")),
                    None if allowed_names.contains(name) => Verdict::NotAdded(
                        "the profile allows it under argument conditions: review them by hand"
                            .to_owned(),
                    ),
                    None => Verdict::NotAdded(format!(
                        "{name} does not exist on the profile's architectures"
                    )),
                },
            };
            WorkloadDenial {
                arch,
                nr,
                count: replicas.iter().map(|(_, d)| d.count()).sum(),
                first: replicas.iter().map(|(_, d)| d.first).min().unwrap_or(0),
                last: replicas.iter().map(|(_, d)| d.last).max().unwrap_or(0),
                replicas,
                verdict,
            }
        })
        .collect();
    (denials, proposal)
}

/// Names an unconditional rule blocks, with the rule's action (`SCMP_ACT_ERRNO(38)`).
fn blocking_rules(profile: &Profile) -> BTreeMap<&str, String> {
    let mut blocking = BTreeMap::new();
    for rule in &profile.syscalls {
        let verdict = ops::Verdict::new(rule.action, rule.errno_ret);
        if verdict.passes() || !rule.args.is_empty() || rule.action == Action::Allow {
            continue;
        }
        let text = match verdict.errno_ret {
            Some(errno) => format!("{}({errno})", rule.action),
            None => rule.action.to_string(),
        };
        for name in &rule.names {
            blocking.insert(name.as_str(), text.clone());
        }
    }
    blocking
}

/// Milliseconds since the epoch as RFC 3339 text (UTC, with milliseconds).
pub fn format_time(millis: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis);
    humantime::format_rfc3339_millis(time).to_string()
}

/// Serde for times kept as milliseconds since the epoch and written as RFC 3339.
mod rfc3339 {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(millis: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_time(*millis))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = String::deserialize(deserializer)?;
        let time = humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)?;
        time.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        output::diff::DiffText as _,
        profile::{SyscallRule, ENOSYS},
    };

    fn observed(nr: u64, source: Source, at: u64) -> Observed {
        Observed {
            arch: Arch::X86_64,
            nr,
            source,
            first: at,
            last: at,
            pid: 7,
            comm: "app".to_owned(),
            exe: None,
            action: "ERRNO(1)".to_owned(),
        }
    }

    #[test]
    fn kernel_counts_add_up_across_reads_and_a_replaced_map() {
        let mut denials = Vec::new();
        assert!(record(
            &mut denials,
            &observed(110, Source::Kernel { total: 5 }, 1000)
        ));
        // The same cumulative count again: nothing new.
        assert!(!record(
            &mut denials,
            &observed(110, Source::Kernel { total: 5 }, 2000)
        ));
        assert!(record(
            &mut denials,
            &observed(110, Source::Kernel { total: 9 }, 3000)
        ));
        assert_eq!((denials[0].kernel_count, denials[0].last), (9, 3000));
        // The map was replaced: its count starts again from the new entry.
        assert!(record(
            &mut denials,
            &observed(110, Source::Kernel { total: 2 }, 4000)
        ));
        assert_eq!(denials[0].kernel_count, 11);
        // Audit records are deltas; the count is the larger of the two sources.
        assert!(record(
            &mut denials,
            &observed(110, Source::Audit { records: 4 }, 500)
        ));
        assert_eq!(denials[0].count(), 11);
        assert_eq!(denials[0].first, 500);
        assert_eq!(denials[0].seen_by(), ["kernel", "audit"]);
        // Kept sorted.
        record(&mut denials, &observed(39, Source::Audit { records: 1 }, 1));
        assert_eq!(denials.iter().map(|d| d.nr).collect::<Vec<_>>(), [39, 110]);
        // A kernel entry that never counted anything new leaves no record.
        assert!(!record(
            &mut denials,
            &observed(1, Source::Kernel { total: 0 }, 1)
        ));
        assert_eq!(denials.len(), 2);
    }

    #[test]
    fn the_meta_form_reads_back() {
        let mut denials = Vec::new();
        record(
            &mut denials,
            &observed(110, Source::Kernel { total: 3 }, 1_795_379_407_866),
        );
        let text = serde_json::to_string(&denials).unwrap();
        assert!(text.contains("\"first\":\"2026-11-22T"), "{text}");
        assert!(text.contains("\"syscall\":\"getppid\""), "{text}");
        let back: Vec<Denied> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, denials);
    }

    #[test]
    fn returns_name_what_the_filter_did() {
        assert_eq!(action_of_return(-1), "ERRNO(1)");
        assert_eq!(action_of_return(-38), "ERRNO(38)");
        assert_eq!(action_of_return(39), "skipped (returned 39)");
    }

    fn profile(names: &[&str]) -> Profile {
        Profile {
            default_action: Action::Errno,
            default_errno_ret: Some(1),
            architectures: vec![Arch::X86_64],
            syscalls: vec![
                SyscallRule {
                    names: names.iter().map(|n| n.to_string()).collect(),
                    action: Action::Allow,
                    ..SyscallRule::default()
                },
                SyscallRule {
                    names: vec!["clone3".to_owned()],
                    action: Action::Errno,
                    errno_ret: Some(ENOSYS),
                    ..SyscallRule::default()
                },
            ],
            ..Profile::default()
        }
    }

    #[test]
    fn only_what_the_profile_lacks_is_proposed() {
        let mut one = Vec::new();
        // getppid (110) lacking, clone3 (435) blocked on purpose, 5000 no name.
        for nr in [110, 435, 5000] {
            record(&mut one, &observed(nr, Source::Kernel { total: 2 }, 10));
        }
        let mut other = Vec::new();
        record(&mut other, &observed(110, Source::Audit { records: 3 }, 20));
        let mut i386 = observed(64, Source::Audit { records: 1 }, 30);
        i386.arch = Arch::X86;
        record(&mut other, &i386);
        let base = profile(&["read", "write"]);
        let (denials, proposal) = judge(
            [(1, one.as_slice()), (2, other.as_slice())].into_iter(),
            &base,
            Arch::X86_64,
        );
        let diff = ops::diff(&base, &proposal, Arch::X86_64);
        assert_eq!(
            diff.to_text("a", "b"),
            "--- a\n+++ b\nx86_64:\n  SCMP_ACT_ALLOW: +getppid\n"
        );
        let verdicts: Vec<(String, u64, &Verdict)> = denials
            .iter()
            .map(|d| (d.name(), d.count, &d.verdict))
            .collect();
        assert_eq!(verdicts[0].0, "getppid");
        assert_eq!(verdicts[0].1, 5);
        assert_eq!(verdicts[0].2, &Verdict::Added);
        assert_eq!(
            verdicts[1].2,
            &Verdict::Expected("the profile's own rule: SCMP_ACT_ERRNO(38)".to_owned())
        );
        assert!(matches!(verdicts[2].2, Verdict::NotAdded(why) if why.contains("no syscall 5000")));
        // i386 getppid: the profile does not cover i386, so nothing is added for it.
        assert_eq!(verdicts[3].0, "getppid");
        assert!(
            matches!(verdicts[3].2, Verdict::NotAdded(why) if why.contains("SCMP_ARCH_X86")),
            "{:?}",
            verdicts[3]
        );
        assert_eq!(denials[0].replicas.len(), 2);
        assert_eq!(denials[0].last_call().unwrap().last, 20);
        assert_eq!((denials[0].first, denials[0].last), (10, 20));
    }
}
