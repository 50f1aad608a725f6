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
//!   }
//! }
//! ```
//!
//! Per ABI the calls of each name, summed over threads and processes. Numbers with no name in
//! their ABI's table are left out (the profile cannot allow them; `record` reports them).
use std::{
    collections::BTreeMap,
    ffi::OsString,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{record::Recording, syscalls::Arch};

/// The value of the `format` field.
pub const FORMAT: &str = "profile-counts/1";

/// Calls per ABI and name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub by_arch: BTreeMap<Arch, BTreeMap<String, u64>>,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    counts: BTreeMap<Arch, BTreeMap<String, u64>>,
}

/// The side file of a profile: its path with `.counts` appended.
pub fn side_file(profile: &Path) -> PathBuf {
    let mut name: OsString = profile.as_os_str().to_owned();
    name.push(".counts");
    PathBuf::from(name)
}

impl Counts {
    pub fn from_recording(recording: &Recording) -> Counts {
        let mut counts = Counts::default();
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

    /// The side file's text: pretty JSON, keys sorted, final newline.
    pub fn to_json(&self) -> String {
        let file = File {
            format: FORMAT.to_owned(),
            counts: self.by_arch.clone(),
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
        let counts = Counts::from_recording(&recording);
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
}
