//! Syscall names of a profile checked against the tables of its architectures: what runc and
//! crun would silently drop.
use std::collections::BTreeSet;

use super::Profile;
use crate::syscalls::{known_anywhere, knows, Arch};

/// Names that no table of the profile's architectures knows.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown syscall names: {} (not in {})", names.join(", "), tables_phrase(tables))]
pub struct UnknownNames {
    /// Sorted, each once.
    pub names: Vec<String>,
    /// The architectures whose tables were consulted.
    pub tables: Vec<Arch>,
}

fn tables_phrase(tables: &[Arch]) -> String {
    let names: Vec<&str> = tables.iter().map(|a| a.short_name()).collect();
    match names.as_slice() {
        [one] => format!("{one}'s table"),
        [init @ .., last] => format!("the {} or {last} tables", init.join(", ")),
        [] => "any table".to_owned(),
    }
}

/// What checking names against the tables found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameCheck {
    /// Names no table of the listed architectures knows, and no other table either: typos, or
    /// syscalls newer than our tables. Sorted, each once.
    pub unknown: Vec<String>,
    /// Names the listed architectures lack but another architecture has (`recv` on arm,
    /// `socketcall` on i386 only): libseccomp skips them on the listed ones, so they do nothing
    /// here, harmlessly. Sorted, each once.
    pub elsewhere: Vec<String>,
    /// Architectures whose tables were consulted.
    pub checked: Vec<Arch>,
    /// Listed architectures we have no table for: a name unknown to every table may exist
    /// there, so `unknown` is then only a suspicion.
    pub unchecked: Vec<Arch>,
}

impl NameCheck {
    /// The error to report: unknown names, when every listed architecture could be checked.
    pub fn error(&self) -> Option<UnknownNames> {
        (!self.unknown.is_empty() && self.unchecked.is_empty() && !self.checked.is_empty()).then(
            || UnknownNames {
                names: self.unknown.clone(),
                tables: self.checked.clone(),
            },
        )
    }
}

/// Checks every name of a (resolved) profile against the tables of its architectures (the
/// native one when it lists none). A name counts as known when any of them knows it: libseccomp
/// (and so runc and crun) adds a rule on each architecture where the name resolves and skips it
/// elsewhere, so i386-only names such as `socketcall` are fine in an x86_64+x86 profile. A name
/// libseccomp does not know at all is dropped by runc and crun without a word, which turns an
/// allow into the default action: that is what [`NameCheck::unknown`] catches.
pub fn check_names(profile: &Profile, native: Arch) -> NameCheck {
    let mut listed: Vec<Arch> = Vec::new();
    for &arch in &profile.architectures {
        if !listed.contains(&arch) {
            listed.push(arch);
        }
    }
    if listed.is_empty() {
        listed.push(native);
    }
    let (checked, unchecked): (Vec<Arch>, Vec<Arch>) = listed
        .into_iter()
        .partition(|&arch| knows(arch, "read").is_some());
    let mut check = NameCheck {
        checked,
        unchecked,
        ..NameCheck::default()
    };
    if check.checked.is_empty() {
        return check;
    }
    let missing: BTreeSet<&String> = profile
        .syscalls
        .iter()
        .flat_map(|rule| &rule.names)
        .filter(|name| {
            check
                .checked
                .iter()
                .all(|&arch| knows(arch, name) == Some(false))
        })
        .collect();
    for name in missing {
        if known_anywhere(name) {
            check.elsewhere.push(name.clone());
        } else {
            check.unknown.push(name.clone());
        }
    }
    check
}

/// Removes `names` from every rule, and rules left with no name (`--allow-unknown`).
pub fn drop_names(profile: &mut Profile, names: &[String]) {
    for rule in &mut profile.syscalls {
        rule.names.retain(|name| !names.contains(name));
    }
    profile.syscalls.retain(|rule| !rule.names.is_empty());
}
