//! [`diff`]: what changed between two profiles, per architecture and variant.
use super::*;

/// Names added and removed under one variant, on one architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub variant: Variant,
    /// Sorted.
    pub added: Vec<String>,
    /// Sorted.
    pub removed: Vec<String>,
}

/// What changed from one profile to another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub default: Option<(Verdict, Verdict)>,
    pub architectures_added: Vec<Arch>,
    pub architectures_removed: Vec<Arch>,
    pub flags_added: Vec<String>,
    pub flags_removed: Vec<String>,
    /// `(field, old, new)` for `listenerPath` and `listenerMetadata`.
    pub listener: Vec<(&'static str, Option<String>, Option<String>)>,
    /// Per architecture filtered by either profile, changes ordered by variant; architectures
    /// without changes are left out.
    pub syscalls: BTreeMap<Arch, Vec<Change>>,
}

/// Name → variants of the names that exist on `arch` (a name the table lacks is skipped there,
/// as libseccomp skips it; without a table every name counts).
fn on_arch<'a>(
    table: &'a BTreeMap<&'a str, BTreeSet<Variant>>,
    arch: Arch,
) -> BTreeMap<&'a str, &'a BTreeSet<Variant>> {
    table
        .iter()
        .filter(|(name, _)| knows(arch, name) != Some(false))
        .map(|(name, set)| (*name, set))
        .collect()
}

/// Compares `old` with `new`; `native` is the architecture a profile without `architectures`
/// (and every filter) covers.
pub fn diff(old: &Profile, new: &Profile, native: Arch) -> Diff {
    let mut diff = Diff::default();
    let (old_default, new_default) = (Verdict::default_of(old), Verdict::default_of(new));
    if old_default != new_default {
        diff.default = Some((old_default, new_default));
    }
    let (old_listed, new_listed): (BTreeSet<Arch>, BTreeSet<Arch>) = (
        old.architectures.iter().copied().collect(),
        new.architectures.iter().copied().collect(),
    );
    diff.architectures_added = new_listed.difference(&old_listed).copied().collect();
    diff.architectures_removed = old_listed.difference(&new_listed).copied().collect();
    let (old_flags, new_flags): (BTreeSet<&String>, BTreeSet<&String>) =
        (old.flags.iter().collect(), new.flags.iter().collect());
    diff.flags_added = new_flags
        .difference(&old_flags)
        .map(|f| f.to_string())
        .collect();
    diff.flags_removed = old_flags
        .difference(&new_flags)
        .map(|f| f.to_string())
        .collect();
    for (field, a, b) in [
        ("listenerPath", &old.listener_path, &new.listener_path),
        (
            "listenerMetadata",
            &old.listener_metadata,
            &new.listener_metadata,
        ),
    ] {
        if a != b {
            diff.listener.push((field, a.clone(), b.clone()));
        }
    }

    let (old_table, new_table) = (by_name(old), by_name(new));
    let (old_arches, new_arches) = (filtered(old, native), filtered(new, native));
    let empty = BTreeMap::new();
    for arch in old_arches.union(&new_arches).copied() {
        let old_names = if old_arches.contains(&arch) {
            on_arch(&old_table, arch)
        } else {
            empty.clone()
        };
        let new_names = if new_arches.contains(&arch) {
            on_arch(&new_table, arch)
        } else {
            empty.clone()
        };
        let mut changes: BTreeMap<Variant, (Vec<String>, Vec<String>)> = BTreeMap::new();
        let none = BTreeSet::new();
        let names: BTreeSet<&str> = old_names.keys().chain(new_names.keys()).copied().collect();
        for name in names {
            let was = old_names.get(name).copied().unwrap_or(&none);
            let is = new_names.get(name).copied().unwrap_or(&none);
            for variant in is.difference(was) {
                changes
                    .entry(variant.clone())
                    .or_default()
                    .0
                    .push(name.to_owned());
            }
            for variant in was.difference(is) {
                changes
                    .entry(variant.clone())
                    .or_default()
                    .1
                    .push(name.to_owned());
            }
        }
        if !changes.is_empty() {
            diff.syscalls.insert(
                arch,
                changes
                    .into_iter()
                    .map(|(variant, (added, removed))| Change {
                        variant,
                        added,
                        removed,
                    })
                    .collect(),
            );
        }
    }
    diff
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        *self == Diff::default()
    }
}
