//! `profile report`: what a profile allows, how risky each allowed syscall is (the table of
//! [`risk`]), how often a recording saw it (the side file of [`counts`]), and how it compares
//! with another profile, by default Docker's ([`docker`]). Pure: the caller reads the files and
//! resolves them (as `cli::check::load` does); [`render`] turns a [`Report`] into text or JSON.
//!
//! # What "allowed" means
//!
//! A resolved OCI profile's rules apply to every architecture it filters (its list plus the
//! native one), so whether a name gets through does not depend on the architecture, only
//! whether the architecture's table has the name (libseccomp skips names a table lacks). A name
//! is allowed ([`Allowance`]) when a rule for it passes the call (SCMP_ACT_ALLOW or LOG):
//! always, or only when the rule's argument conditions hold; or, when the default action
//! passes (a staged LOG profile, a deny-list), when no unconditional blocking rule names it.
pub mod docker;
pub mod render;
pub mod risk;

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    profile::{
        groups::{self, Hint},
        implied,
        ops::{Allowance, Verdict},
        runtimes::{self, Logging, Runtime},
        ArgCondition, Profile,
    },
    recording::counts::Counts,
    syscalls::{knows, Arch},
};

pub use risk::Risk;

/// One allowed syscall name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    /// The filtered architectures whose table has the name (all of them when we have no table).
    pub arches: Vec<Arch>,
    pub allowance: Allowance,
    pub risk: Risk,
    /// One line; empty for low.
    pub reason: &'static str,
    /// Recorded calls per ABI; empty when there are no counts or the recording never saw it.
    pub counts: BTreeMap<Arch, u64>,
    /// Why the recording allowed it without seeing it (from the counts side file).
    pub added: Option<Added>,
}

/// Why a name a recording never saw is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    /// An implied call, with the rule's reason.
    Implied(&'static str),
    /// `--allow-group` with this group.
    Group(String),
}

impl Row {
    pub fn count(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// Everything a profile allows, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// The architecture summaries are about.
    pub native: Arch,
    /// Every architecture the filter covers: the profile's list, then the native one if absent.
    pub arches: Vec<Arch>,
    pub default: Verdict,
    /// Sorted by risk (high first), then name.
    pub rows: Vec<Row>,
}

impl Allowed {
    pub fn of(profile: &Profile, native: Arch) -> Allowed {
        let mut arches: Vec<Arch> = Vec::new();
        for &arch in profile.architectures.iter().chain([&native]) {
            if !arches.contains(&arch) {
                arches.push(arch);
            }
        }
        let default = Verdict::default_of(profile);
        let mut rules: BTreeMap<&str, Vec<(bool, Vec<ArgCondition>)>> = BTreeMap::new();
        for rule in &profile.syscalls {
            let passes = Verdict::new(rule.action, rule.errno_ret).passes();
            let mut args = rule.args.clone();
            args.sort();
            args.dedup();
            for name in &rule.names {
                rules
                    .entry(name.as_str())
                    .or_default()
                    .push((passes, args.clone()));
            }
        }
        let mut names: BTreeSet<&str> = rules.keys().copied().collect();
        if default.passes() {
            for arch in &arches {
                names.extend(arch.table().into_iter().map(|(_, name)| name));
            }
        }
        let mut rows: Vec<Row> = names
            .into_iter()
            .filter_map(|name| {
                let allowance = allowance(
                    rules.get(name).map(Vec::as_slice).unwrap_or(&[]),
                    default.passes(),
                )?;
                let on: Vec<Arch> = arches
                    .iter()
                    .copied()
                    .filter(|&arch| knows(arch, name) != Some(false))
                    .collect();
                if on.is_empty() {
                    return None;
                }
                let (risk, reason) = risk::classify(name, &allowance);
                Some(Row {
                    name: name.to_owned(),
                    arches: on,
                    allowance,
                    risk,
                    reason,
                    counts: BTreeMap::new(),
                    added: None,
                })
            })
            .collect();
        rows.sort_by(|a, b| a.risk.cmp(&b.risk).then_with(|| a.name.cmp(&b.name)));
        Allowed {
            native,
            arches,
            default,
            rows,
        }
    }

    /// The rows whose name exists on `arch` (none when the filter does not cover it).
    pub fn on(&self, arch: Arch) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(move |row| row.arches.contains(&arch))
    }

    pub fn get(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.name == name)
    }

    /// `(allowed, high, medium)` on the native architecture.
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for row in self.on(self.native) {
            tally.allowed += 1;
            match row.risk {
                Risk::High => tally.high += 1,
                Risk::Medium => tally.medium += 1,
                Risk::Low => {}
            }
        }
        tally.elsewhere_only = self.rows.len() - tally.allowed;
        tally
    }
}

/// The numbers of a summary line, on the native architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub allowed: usize,
    pub high: usize,
    pub medium: usize,
    /// Allowed names that exist only on the other filtered architectures.
    pub elsewhere_only: usize,
}

fn allowance(rules: &[(bool, Vec<ArgCondition>)], default_passes: bool) -> Option<Allowance> {
    let ways = |passes: bool| -> Vec<Vec<ArgCondition>> {
        let set: BTreeSet<&Vec<ArgCondition>> = rules
            .iter()
            .filter(|(p, _)| *p == passes)
            .map(|(_, args)| args)
            .collect();
        set.into_iter().cloned().collect()
    };
    let (passing, blocking) = (ways(true), ways(false));
    if passing.iter().any(Vec::is_empty) {
        return Some(Allowance::Always);
    }
    if !passing.is_empty() {
        return Some(if default_passes && blocking.is_empty() {
            Allowance::Always
        } else {
            Allowance::When(passing)
        });
    }
    if !default_passes || blocking.iter().any(Vec::is_empty) {
        return None;
    }
    Some(if blocking.is_empty() {
        Allowance::Always
    } else {
        Allowance::Unless(blocking)
    })
}

/// The profile's report: what it allows, with counts and a comparison when given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// How the profile is named in the output (its path as given).
    pub source: String,
    pub allowed: Allowed,
    /// The number of names the native architecture's table has, when we have its table.
    pub known: Option<usize>,
    pub counts: Option<CountsSummary>,
    pub against: Option<Comparison>,
    /// Unseen siblings of allowed calls, by group.
    pub hints: Vec<Hint>,
    /// Per runtime, whether the calls it denies are logged.
    pub denials: Vec<(Runtime, Logging, String)>,
}

/// Where the counts came from and what did not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountsSummary {
    pub source: String,
    /// Calls recorded, over every ABI and name.
    pub calls: u64,
    /// Counted names the profile does not allow (it changed since the recording?).
    pub not_allowed: Vec<String>,
    /// Allowed names the side file lists as implied.
    pub implied: usize,
}

impl Report {
    /// `counts` is `(side file name, counts)`.
    pub fn new(
        source: &str,
        profile: &Profile,
        native: Arch,
        counts: Option<(&str, &Counts)>,
    ) -> Report {
        let mut allowed = Allowed::of(profile, native);
        let counts = counts.map(|(counts_source, counts)| {
            let mut not_allowed = BTreeSet::new();
            for (&arch, names) in &counts.by_arch {
                for (name, &n) in names {
                    match allowed.rows.iter_mut().find(|row| row.name == *name) {
                        Some(row) if n > 0 => *row.counts.entry(arch).or_default() += n,
                        Some(_) => {}
                        None => {
                            not_allowed.insert(name.clone());
                        }
                    }
                }
            }
            let mut implied_rows = 0;
            for row in &mut allowed.rows {
                if !row.counts.is_empty() {
                    continue;
                }
                if counts.implied.contains(&row.name) {
                    row.added = Some(Added::Implied(
                        implied::reason(&row.name).unwrap_or("implied by an earlier version"),
                    ));
                    implied_rows += 1;
                } else if let Some((group, _)) = counts
                    .groups
                    .iter()
                    .find(|(_, names)| names.contains(&row.name))
                {
                    row.added = Some(Added::Group(group.clone()));
                }
            }
            CountsSummary {
                source: counts_source.to_owned(),
                calls: counts.calls(),
                not_allowed: not_allowed.into_iter().collect(),
                implied: implied_rows,
            }
        });
        let names = allowed.rows.iter().map(|row| row.name.as_str()).collect();
        let hints = groups::hints(&names, &profile.names(), &allowed.arches);
        Report {
            source: source.to_owned(),
            known: native.has_table().then(|| native.table().len()),
            allowed,
            counts,
            against: None,
            hints,
            denials: runtimes::summary(profile),
        }
    }

    /// Adds the comparison with `other` (resolved for the same target).
    pub fn compare(&mut self, name: &str, description: &str, other: &Profile) {
        let theirs = Allowed::of(other, self.allowed.native);
        self.against = Some(Comparison::new(name, description, &self.allowed, theirs));
    }

    pub fn tally(&self) -> Tally {
        self.allowed.tally()
    }
}

/// This profile next to another one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// `docker` or the other profile's path.
    pub name: String,
    /// One line on what it is (e.g. which target Docker's default was resolved for).
    pub description: String,
    pub theirs: Allowed,
    /// Per architecture either filter covers, native first.
    pub arches: Vec<(Arch, ArchComparison)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchComparison {
    /// Names this profile allows there.
    pub here: usize,
    /// Names the other profile allows there.
    pub there: usize,
    /// Allowed here, denied there.
    pub only_here: Vec<String>,
    /// Denied here, allowed there.
    pub only_there: Vec<String>,
    /// Allowed by both, under different conditions.
    pub differ: Vec<String>,
}

impl Comparison {
    fn new(name: &str, description: &str, ours: &Allowed, theirs: Allowed) -> Comparison {
        let mut arches = vec![ours.native];
        for &arch in ours.arches.iter().chain(&theirs.arches) {
            if !arches.contains(&arch) {
                arches.push(arch);
            }
        }
        let arches = arches
            .into_iter()
            .map(|arch| {
                let here: BTreeMap<&str, &Allowance> = ours
                    .on(arch)
                    .map(|r| (r.name.as_str(), &r.allowance))
                    .collect();
                let there: BTreeMap<&str, &Allowance> = theirs
                    .on(arch)
                    .map(|r| (r.name.as_str(), &r.allowance))
                    .collect();
                let missing = |a: &BTreeMap<&str, &Allowance>, b: &BTreeMap<&str, &Allowance>| {
                    a.keys()
                        .filter(|name| !b.contains_key(*name))
                        .map(|name| name.to_string())
                        .collect()
                };
                let comparison = ArchComparison {
                    here: here.len(),
                    there: there.len(),
                    only_here: missing(&here, &there),
                    only_there: missing(&there, &here),
                    differ: here
                        .iter()
                        .filter(|(name, allowance)| {
                            there.get(*name).is_some_and(|other| other != *allowance)
                        })
                        .map(|(name, _)| name.to_string())
                        .collect(),
                };
                (arch, comparison)
            })
            .collect();
        Comparison {
            name: name.to_owned(),
            description: description.to_owned(),
            theirs,
            arches,
        }
    }

    /// The native architecture's comparison.
    pub fn native(&self) -> &ArchComparison {
        &self.arches[0].1
    }

    /// This profile's allowed names as a fraction of the other's, on the native architecture.
    pub fn ratio(&self) -> Option<f64> {
        let native = self.native();
        (native.there > 0).then(|| native.here as f64 / native.there as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{parse, Action, ArgOp, SyscallRule};

    fn rule(names: &[&str], action: Action, args: Vec<ArgCondition>) -> SyscallRule {
        SyscallRule {
            names: names.iter().map(|n| n.to_string()).collect(),
            action,
            args,
            ..SyscallRule::default()
        }
    }

    fn eq(index: u32, value: u64) -> ArgCondition {
        ArgCondition {
            index,
            value,
            value_two: 0,
            op: ArgOp::Equal,
        }
    }

    #[test]
    fn report_allowed_names_with_conditions_and_defaults() {
        let profile = Profile {
            architectures: vec![Arch::X86_64, Arch::X86],
            syscalls: vec![
                rule(
                    &["read", "ptrace", "socketcall", "no_such"],
                    Action::Allow,
                    vec![],
                ),
                rule(&["personality"], Action::Allow, vec![eq(0, 0)]),
                rule(&["personality"], Action::Allow, vec![eq(0, 8)]),
                rule(&["clone3"], Action::Errno, vec![]),
            ],
            ..Profile::default()
        };
        let allowed = Allowed::of(&profile, Arch::X86_64);
        let names: Vec<&str> = allowed.rows.iter().map(|r| r.name.as_str()).collect();
        // Sorted by risk, then name; the unknown name has no row; personality is relieved.
        assert_eq!(names, ["ptrace", "socketcall", "personality", "read"]);
        assert_eq!(allowed.get("socketcall").unwrap().arches, [Arch::X86]);
        assert_eq!(
            allowed.get("read").unwrap().arches,
            [Arch::X86_64, Arch::X86]
        );
        assert_eq!(
            allowed.get("personality").unwrap().allowance,
            Allowance::When(vec![vec![eq(0, 0)], vec![eq(0, 8)]])
        );
        assert_eq!(
            allowed.tally(),
            Tally {
                allowed: 3,
                high: 1,
                medium: 0,
                elsewhere_only: 1
            }
        );
    }

    #[test]
    fn report_staged_profile_allows_everything_not_blocked() {
        let profile = Profile {
            default_action: Action::Log,
            syscalls: vec![
                rule(&["read"], Action::Allow, vec![]),
                rule(&["clone3"], Action::Errno, vec![]),
                rule(&["socket"], Action::Errno, vec![eq(0, 40)]),
            ],
            ..Profile::default()
        };
        let allowed = Allowed::of(&profile, Arch::X86_64);
        assert!(allowed.get("clone3").is_none());
        assert_eq!(allowed.get("write").unwrap().allowance, Allowance::Always);
        assert_eq!(
            allowed.get("socket").unwrap().allowance,
            Allowance::Unless(vec![vec![eq(0, 40)]])
        );
        assert_eq!(allowed.tally().allowed, Arch::X86_64.table().len() - 1);
    }

    #[test]
    fn report_compares_per_architecture() {
        let ours = parse(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["read","ptrace","personality"],"action":"SCMP_ACT_ALLOW"}]}"#,
            "ours",
        )
        .unwrap()
        .profile;
        let theirs = parse(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[
                {"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
                {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
            "theirs",
        )
        .unwrap()
        .profile;
        let mut report = Report::new("ours", &ours, Arch::X86_64, None);
        report.compare("theirs", "", &theirs);
        let against = report.against.unwrap();
        assert_eq!(
            against.arches[0],
            (
                Arch::X86_64,
                ArchComparison {
                    here: 3,
                    there: 3,
                    only_here: vec!["ptrace".into()],
                    only_there: vec!["write".into()],
                    differ: vec!["personality".into()],
                }
            )
        );
        assert_eq!(against.arches[1].0, Arch::X86);
        assert_eq!(against.arches[1].1.here, 0);
        assert_eq!(
            against.arches[1].1.only_there,
            ["personality", "read", "write"]
        );
        assert_eq!(against.ratio(), Some(1.0));
    }

    #[test]
    fn report_counts_join_rows_and_flag_what_is_not_allowed() {
        let profile = Profile {
            syscalls: vec![rule(&["read", "write"], Action::Allow, vec![])],
            ..Profile::default()
        };
        let counts = Counts {
            by_arch: BTreeMap::from([
                (
                    Arch::X86_64,
                    BTreeMap::from([("read".into(), 5), ("openat".into(), 2)]),
                ),
                (Arch::X86, BTreeMap::from([("read".into(), 1)])),
            ]),
            ..Counts::default()
        };
        let report = Report::new("p", &profile, Arch::X86_64, Some(("p.counts", &counts)));
        let summary = report.counts.as_ref().unwrap();
        assert_eq!(summary.calls, 8);
        assert_eq!(summary.not_allowed, ["openat"]);
        assert_eq!(report.allowed.get("read").unwrap().count(), 6);
        assert_eq!(report.allowed.get("write").unwrap().count(), 0);
    }
}
