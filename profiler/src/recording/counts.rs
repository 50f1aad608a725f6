//! Recorded syscall counts, kept next to the profile in a side file: `app.json` gets
//! `app.json.counts`. The profile stays exactly what runtimes read (no field our own parser
//! would warn about, nothing the Security Profiles Operator's schema would prune), and
//! `profile report app.json` finds the counts by name.
//!
//! ```json
//! {
//!   "format": "profile-counts/1",
//!   "counts": {
//!     "SCMP_ARCH_X86_64": { "execve": 1, "read": 10 },
//!     "SCMP_ARCH_X86": { "getppid": 1000 }
//!   },
//!   "implied": ["restart_syscall", "rt_sigreturn"],
//!   "groups": { "@sync": ["fdatasync", "fsync"] }
//! }
//! ```
//!
//! Per ABI the calls of each name, summed over threads and processes. Numbers with no name in
//! their ABI's table are left out (the profile cannot allow them; `record` reports them).
//! `implied` lists the names the profile allows because `profile::implied`'s rules
//! added them, `groups` those `--allow-group` added (both optional: files written before they
//! existed have neither). A name is in at most one of `counts`, `implied` and `groups`.
use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsString,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    recording::{Additions, Recording},
    syscalls::Arch,
};

/// The value of the `format` field.
pub const FORMAT: &str = "profile-counts/1";

/// Calls per ABI and name, and the names allowed without having been seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub by_arch: BTreeMap<Arch, BTreeMap<String, u64>>,
    /// Added by the implied-call rules.
    pub implied: BTreeSet<String>,
    /// Added by `--allow-group`, per group.
    pub groups: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    counts: BTreeMap<Arch, BTreeMap<String, u64>>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    implied: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    groups: BTreeMap<String, BTreeSet<String>>,
}

/// The side file of a profile: its path with `.counts` appended.
pub fn side_file(profile: &Path) -> PathBuf {
    let mut name: OsString = profile.as_os_str().to_owned();
    name.push(".counts");
    PathBuf::from(name)
}

impl Counts {
    pub fn from_recording(recording: &Recording, additions: &Additions) -> Counts {
        let mut counts = Counts {
            implied: additions.implied.keys().map(|n| n.to_string()).collect(),
            groups: additions
                .groups
                .iter()
                .filter(|(_, names)| !names.is_empty())
                .map(|(group, names)| {
                    (group.clone(), names.iter().map(|n| n.to_string()).collect())
                })
                .collect(),
            ..Counts::default()
        };
        for (&(abi, nr), &n) in &recording.counts {
            if let Some(name) = abi.name(nr) {
                *counts
                    .by_arch
                    .entry(abi)
                    .or_default()
                    .entry(name.to_owned())
                    .or_default() += n;
            }
        }
        counts
    }

    /// Every call counted.
    pub fn calls(&self) -> u64 {
        self.by_arch.values().flat_map(|names| names.values()).sum()
    }

    /// Whether any ABI counted `name`.
    fn counted(&self, name: &str) -> bool {
        self.by_arch
            .values()
            .any(|names| names.get(name).is_some_and(|&n| n > 0))
    }

    /// The side file of merged profiles: counts summed; a name seen by one input is no longer
    /// implied or added by a group, and an implied name is not a group's.
    pub fn merge(&mut self, other: &Counts) {
        for (&arch, names) in &other.by_arch {
            let mine = self.by_arch.entry(arch).or_default();
            for (name, &n) in names {
                *mine.entry(name.clone()).or_default() += n;
            }
        }
        self.implied.extend(other.implied.iter().cloned());
        for (group, names) in &other.groups {
            self.groups
                .entry(group.clone())
                .or_default()
                .extend(names.iter().cloned());
        }
        let implied: BTreeSet<String> = std::mem::take(&mut self.implied)
            .into_iter()
            .filter(|name| !self.counted(name))
            .collect();
        self.implied = implied;
        let mut groups = std::mem::take(&mut self.groups);
        for names in groups.values_mut() {
            names.retain(|name| !self.counted(name) && !self.implied.contains(name));
        }
        groups.retain(|_, names| !names.is_empty());
        self.groups = groups;
    }

    /// The side file's text: pretty JSON, keys sorted, final newline.
    pub fn to_json(&self) -> String {
        let file = File {
            format: FORMAT.to_owned(),
            counts: self.by_arch.clone(),
            implied: self.implied.clone(),
            groups: self.groups.clone(),
        };
        let mut text = serde_json::to_string_pretty(&file).expect("counts serialise");
        text.push('\n');
        text
    }

    /// Reads a side file; the error is one line naming `source`.
    pub fn parse(text: &str, source: &str) -> Result<Counts, String> {
        let file: File = serde_json::from_str(text).map_err(|err| {
            format!("{source}: not a counts file ({err}); expected {{\"format\": \"{FORMAT}\", \"counts\": {{…}}}}")
        })?;
        if file.format != FORMAT {
            return Err(format!(
                "{source}: format {:?} is not {FORMAT:?} (written by a newer profile?)",
                file.format
            ));
        }
        let counts = Counts {
            by_arch: file.counts,
            implied: file.implied,
            groups: file.groups,
        };
        // Every total of a report is a part of this one: none can overflow once it fits.
        if counts
            .by_arch
            .values()
            .flat_map(|names| names.values())
            .try_fold(0u64, |sum, &n| sum.checked_add(n))
            .is_none()
        {
            return Err(format!(
                "{source}: the counts add up to more than {} calls",
                u64::MAX
            ));
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_counts_round_trip_and_skip_unnamed_numbers() {
        let mut recording = Recording::default();
        recording.add(Arch::X86_64, 0, 10);
        recording.add(Arch::X86_64, 59, 1);
        recording.add(Arch::X86_64, 999, 4);
        recording.add(Arch::X86, 64, 1000);
        let counts = Counts::from_recording(&recording, &Additions::default());
        let text = counts.to_json();
        assert_eq!(
            text,
            r#"{
  "format": "profile-counts/1",
  "counts": {
    "SCMP_ARCH_X86_64": {
      "execve": 1,
      "read": 10
    },
    "SCMP_ARCH_X86": {
      "getppid": 1000
    }
  }
}
"#
        );
        assert_eq!(Counts::parse(&text, "x").unwrap(), counts);
        assert_eq!(counts.calls(), 1011);
    }

    #[test]
    fn report_counts_errors_are_one_line() {
        let err = Counts::parse(
            "{\"format\": \"profile-counts/9\", \"counts\": {}}",
            "a.counts",
        )
        .unwrap_err();
        assert!(
            err.starts_with("a.counts: format \"profile-counts/9\""),
            "{err}"
        );
        let err = Counts::parse(
            &format!(
                r#"{{"format": "{FORMAT}", "counts": {{"SCMP_ARCH_X86_64": {{"read": {max}}}, "SCMP_ARCH_X86": {{"read": 1}}}}}}"#,
                max = u64::MAX
            ),
            "a.counts",
        )
        .unwrap_err();
        assert!(
            err.starts_with("a.counts: the counts add up to more"),
            "{err}"
        );
        let err = Counts::parse("[1]", "a.counts").unwrap_err();
        assert!(err.starts_with("a.counts: not a counts file"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn report_counts_side_file_appends() {
        assert_eq!(
            side_file(Path::new("dir/app.json")),
            Path::new("dir/app.json.counts")
        );
    }

    #[test]
    fn report_counts_merge_sums_and_keeps_added_names_unseen() {
        let parse = |text: &str| Counts::parse(text, "x").unwrap();
        let mut a = parse(
            r#"{"format":"profile-counts/1","counts":{"SCMP_ARCH_X86_64":{"read":2,"write":1}},
               "implied":["restart_syscall","pwritev"],"groups":{"@sync":["fsync","fdatasync"]}}"#,
        );
        let b = parse(
            r#"{"format":"profile-counts/1","counts":{"SCMP_ARCH_X86_64":{"read":3,"pwritev":4}},
               "implied":["rt_sigreturn","fsync"]}"#,
        );
        a.merge(&b);
        assert_eq!(a.by_arch[&Arch::X86_64]["read"], 5);
        assert_eq!(a.by_arch[&Arch::X86_64]["pwritev"], 4);
        assert_eq!(
            a.implied,
            BTreeSet::from([
                "fsync".into(),
                "restart_syscall".into(),
                "rt_sigreturn".into()
            ])
        );
        assert_eq!(a.groups["@sync"], BTreeSet::from(["fdatasync".into()]));
        assert_eq!(Counts::parse(&a.to_json(), "x").unwrap(), a);
    }
}
