//! The staged-rollout operations on profiles: [`merge`], [`diff`], [`stage`] and [`promote`].
//! Pure: no files, no logging; callers get conflicts and differences as data.
//!
//! Inputs are plain OCI profiles (resolve Docker conditions first, as `cli::check::load` does).
//!
//! # Comparing rules
//!
//! What a profile does with a syscall name is the set of its rule *variants* for that name: a
//! [`Verdict`] (action and, for ERRNO and TRACE, the errno) with the rule's argument
//! conditions. Rule layout does not matter: which rule a name sits in, the order of rules, the
//! order of names and the order of conditions within a rule are all ignored. ERRNO and TRACE
//! without `errnoRet` mean errno 1 (EPERM, what runc uses) and compare equal to an explicit 1;
//! `errnoRet` on any other action means nothing and is ignored.
//!
//! # Merge rules
//!
//! [`merge`] computes the union of what its inputs allow. The result depends only on the
//! inputs' contents, never on their order or file names: any permutation gives the same bytes.
//!
//! - **Architectures**: the union, in libseccomp's order (x86_64, x86, x32, aarch64, …). OCI
//!   rules name syscalls for every listed architecture at once, so a name one input allows is
//!   allowed on every architecture of the result (as `profile record` does for several ABIs).
//!   An input without `architectures` means the native one, which libseccomp always adds.
//! - **Default action**: the most permissive of the inputs' defaults, in the order ALLOW, LOG,
//!   NOTIFY, TRACE, ERRNO, TRAP, KILL_THREAD (KILL), KILL_PROCESS; between two errnos the
//!   smaller. Disagreement is reported: merging a staged (LOG) profile with an enforcing one
//!   gives a LOG profile, which `promote` turns back into an enforcing one.
//! - **Syscalls**: for each name, only the inputs with rules for it take part (a name an input
//!   has no rule for gets that input's default, merged above). When those inputs' variant sets
//!   agree, they are kept. Otherwise:
//!   1. an unconditional SCMP_ACT_ALLOW in any input wins: the name is allowed outright and
//!      every other rule for it is dropped;
//!   2. else, if any input allows it under conditions, the union of all the inputs' ALLOW
//!      variants is kept (the call is allowed when any input allowed it) and the other actions'
//!      rules for the name are dropped (they would fight the allows in libseccomp's tree);
//!   3. else (nobody allows it), the most permissive verdict (order above) is kept, with the
//!      union of its argument conditions.
//!
//!   Every input whose rules for the name differ from the result is reported as a conflict
//!   naming the file, the syscall and both sides. One case is expected and not reported: the
//!   `clone3` → ERRNO(ENOSYS) rule `profile record` writes when it did not see `clone3` gives
//!   way to another input's allow (a replica that used `clone3`). That rule is kept whenever
//!   no input allows `clone3`. A blocking rule that survives although another input let the
//!   name through by its ALLOW or LOG default is reported as well.
//! - **flags**: the union. `listenerPath`/`listenerMetadata`: the smallest value given, reported
//!   when inputs disagree.
//!
//! The result is written in one layout: one rule per verdict-and-conditions, names sorted,
//! rules ordered by action (ALLOW first), errno, then conditions; conditions sorted.
//!
//! # Stage and promote
//!
//! [`stage`] sets the default to SCMP_ACT_LOG (and drops `defaultErrnoRet`) and keeps every
//! rule, so the explicit blocks (the `clone3` ENOSYS fallback) still apply. [`promote`] sets the
//! default to SCMP_ACT_ERRNO with an errno, or to SCMP_ACT_KILL_PROCESS (never the thread-only
//! KILL, which leaves the rest of the process running in an unknown state); it refuses a
//! profile whose default is SCMP_ACT_ALLOW (a deny-list: enforcing would block everything it
//! does not name).
//!
//! # Diff
//!
//! [`diff`] compares what two profiles do per architecture: for each architecture a profile
//! filters (its list plus the native one, as libseccomp always adds it), the names whose
//! table on that architecture knows them (libseccomp skips the others), by variant.
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use super::{Action, ArgCondition, Profile, SyscallRule, ENOSYS};
use crate::syscalls::{knows, Arch};

/// errno that runc uses for ERRNO and TRACE without an explicit one.
const EPERM: u32 = 1;

/// An action with its errno (only ERRNO and TRACE carry one; absent means EPERM).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Verdict {
    pub action: Action,
    pub errno_ret: Option<u32>,
}

impl Verdict {
    /// The normalised verdict: the errno of ERRNO and TRACE made explicit, dropped elsewhere.
    pub fn new(action: Action, errno_ret: Option<u32>) -> Verdict {
        let errno_ret = match action {
            Action::Errno | Action::Trace => Some(errno_ret.unwrap_or(EPERM)),
            _ => None,
        };
        Verdict { action, errno_ret }
    }

    pub fn default_of(profile: &Profile) -> Verdict {
        Verdict::new(profile.default_action, profile.default_errno_ret)
    }

    /// Whether the call goes through (ALLOW, or LOG which only logs it).
    pub fn passes(self) -> bool {
        matches!(self.action, Action::Allow | Action::Log)
    }

    /// Larger is more permissive; a total order on distinct verdicts.
    fn preference(self) -> (u8, Reverse<Option<u32>>, Reverse<Action>) {
        let rank = match self.action {
            Action::Allow => 8,
            Action::Log => 7,
            Action::Notify => 6,
            Action::Trace => 5,
            Action::Errno => 4,
            Action::Trap => 3,
            Action::KillThread | Action::Kill => 2,
            Action::KillProcess => 1,
        };
        (rank, Reverse(self.errno_ret), Reverse(self.action))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.action)?;
        match self.errno_ret {
            Some(errno) => write!(f, "({errno})"),
            None => Ok(()),
        }
    }
}

/// How a name gets through a profile's filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allowance {
    /// Whatever the arguments.
    Always,
    /// When one of these sets of argument conditions holds (each sorted, the list sorted).
    When(Vec<Vec<ArgCondition>>),
    /// Through the default action, except when one of these sets of conditions holds.
    Unless(Vec<Vec<ArgCondition>>),
}

/// One rule for one name: a verdict under argument conditions (sorted, each once; empty means
/// unconditional).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Variant {
    pub verdict: Verdict,
    pub args: Vec<ArgCondition>,
}

impl Variant {
    fn of(rule: &SyscallRule) -> Variant {
        let mut args = rule.args.clone();
        args.sort();
        args.dedup();
        Variant {
            verdict: Verdict::new(rule.action, rule.errno_ret),
            args,
        }
    }

    fn is_unconditional_allow(&self) -> bool {
        self.verdict.action == Action::Allow && self.args.is_empty()
    }

    /// `profile record`'s fallback: an unseen clone3 gets ENOSYS so glibc uses clone.
    fn is_clone3_fallback(&self) -> bool {
        self.verdict == Verdict::new(Action::Errno, Some(ENOSYS)) && self.args.is_empty()
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.verdict)?;
        for (i, arg) in self.args.iter().enumerate() {
            f.write_str(if i == 0 { " if " } else { " && " })?;
            write!(f, "{arg}")?;
        }
        Ok(())
    }
}

fn variants_text(variants: &BTreeSet<Variant>) -> String {
    variants
        .iter()
        .map(Variant::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Each name's variants.
fn by_name(profile: &Profile) -> BTreeMap<&str, BTreeSet<Variant>> {
    let mut map: BTreeMap<&str, BTreeSet<Variant>> = BTreeMap::new();
    for rule in &profile.syscalls {
        let variant = Variant::of(rule);
        for name in &rule.names {
            map.entry(name.as_str())
                .or_default()
                .insert(variant.clone());
        }
    }
    map
}

/// The rules of a name → variants map, in the one layout merge writes.
fn rules_of(map: &BTreeMap<String, BTreeSet<Variant>>) -> Vec<SyscallRule> {
    let mut by_variant: BTreeMap<&Variant, BTreeSet<&str>> = BTreeMap::new();
    for (name, variants) in map {
        for variant in variants {
            by_variant.entry(variant).or_default().insert(name);
        }
    }
    by_variant
        .into_iter()
        .map(|(variant, names)| SyscallRule {
            names: names.into_iter().map(str::to_owned).collect(),
            action: variant.verdict.action,
            errno_ret: variant.verdict.errno_ret,
            args: variant.args.clone(),
            ..SyscallRule::default()
        })
        .collect()
}

/// One profile to merge, with the name it is reported by.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub source: &'a str,
    pub profile: &'a Profile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConflictKind {
    /// The inputs' default actions differ.
    Default,
    /// Rules for one syscall differ.
    Syscall,
    /// `listenerPath` or `listenerMetadata` differ.
    Listener,
}

/// A disagreement between inputs and how it was resolved; the message names the files, the
/// syscall and both sides.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conflict {
    pub kind: ConflictKind,
    /// The syscall, for [`ConflictKind::Syscall`].
    pub syscall: Option<String>,
    pub message: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Clone, Debug)]
pub struct Merged {
    pub profile: Profile,
    /// Sorted, so that they too do not depend on the order of the inputs.
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpError {
    #[error("nothing to merge")]
    NoInputs,
    #[error("the default action is SCMP_ACT_ALLOW: this is a deny-list, and enforcing a default would block every syscall it does not name")]
    AllowDefault,
}

fn files(sources: &BTreeSet<&str>) -> String {
    sources.iter().copied().collect::<Vec<_>>().join(", ")
}

/// The union of what the inputs allow; see the module documentation for the rules.
pub fn merge(inputs: &[Input]) -> Result<Merged, OpError> {
    if inputs.is_empty() {
        return Err(OpError::NoInputs);
    }
    let mut conflicts = Vec::new();

    // Default action: the most permissive.
    let defaults: Vec<(&str, Verdict)> = inputs
        .iter()
        .map(|input| (input.source, Verdict::default_of(input.profile)))
        .collect();
    let default = defaults
        .iter()
        .map(|(_, verdict)| *verdict)
        .max_by_key(|verdict| verdict.preference())
        .expect("at least one input");
    let distinct: BTreeSet<Verdict> = defaults.iter().map(|(_, v)| *v).collect();
    if distinct.len() > 1 {
        let mut sides: BTreeMap<Verdict, BTreeSet<&str>> = BTreeMap::new();
        for (source, verdict) in &defaults {
            sides.entry(*verdict).or_default().insert(source);
        }
        let sides: Vec<String> = sides
            .iter()
            .map(|(verdict, sources)| format!("{} {verdict}", files(sources)))
            .collect();
        conflicts.push(Conflict {
            kind: ConflictKind::Default,
            syscall: None,
            message: format!(
                "default actions differ ({}): kept {default} (the most permissive; between errnos the smaller)",
                sides.join("; ")
            ),
        });
    }

    // Syscalls, name by name.
    let tables: Vec<(&str, BTreeMap<&str, BTreeSet<Variant>>)> = inputs
        .iter()
        .map(|input| (input.source, by_name(input.profile)))
        .collect();
    let names: BTreeSet<&str> = tables
        .iter()
        .flat_map(|(_, table)| table.keys().copied())
        .collect();
    let mut merged: BTreeMap<String, BTreeSet<Variant>> = BTreeMap::new();
    for name in names {
        let sides: Vec<(&str, &BTreeSet<Variant>)> = tables
            .iter()
            .filter_map(|(source, table)| table.get(name).map(|set| (*source, set)))
            .collect();
        let (kept, reason) = merge_name(&sides);
        for (source, set) in &sides {
            if **set == kept {
                continue;
            }
            let superseded_fallback = name == "clone3"
                && set.len() == 1
                && set.iter().all(Variant::is_clone3_fallback)
                && kept.iter().any(Variant::is_unconditional_allow);
            if superseded_fallback {
                continue;
            }
            let winners: BTreeSet<&str> = sides
                .iter()
                .filter(|(_, other)| other.iter().any(|v| kept.contains(v)))
                .map(|(source, _)| *source)
                .collect();
            conflicts.push(Conflict {
                kind: ConflictKind::Syscall,
                syscall: Some(name.to_owned()),
                message: format!(
                    "{name}: {source} has {}; {} {} {}: kept {} ({reason})",
                    variants_text(set),
                    files(&winners),
                    if winners.len() == 1 { "has" } else { "have" },
                    variants_text(&other_side(&sides, &winners, &kept)),
                    variants_text(&kept),
                ),
            });
        }
        // A block that survives although an input let the name through by its default.
        if !kept.iter().any(|v| v.verdict.passes()) {
            let passing: BTreeSet<&str> = inputs
                .iter()
                .zip(&tables)
                .filter(|(input, (_, table))| {
                    !table.contains_key(name) && Verdict::default_of(input.profile).passes()
                })
                .map(|(input, _)| input.source)
                .collect();
            let fallback = name == "clone3" && kept.iter().all(Variant::is_clone3_fallback);
            if !passing.is_empty() && !fallback {
                let holders: BTreeSet<&str> = sides.iter().map(|(source, _)| *source).collect();
                conflicts.push(Conflict {
                    kind: ConflictKind::Syscall,
                    syscall: Some(name.to_owned()),
                    message: format!(
                        "{name}: {} {} it through by default; {} {} {}: kept {} (explicit rules win over another input's default)",
                        files(&passing),
                        if passing.len() == 1 { "lets" } else { "let" },
                        files(&holders),
                        if holders.len() == 1 { "has" } else { "have" },
                        variants_text(&kept),
                        variants_text(&kept),
                    ),
                });
            }
        }
        merged.insert(name.to_owned(), kept);
    }

    let architectures: Vec<Arch> = inputs
        .iter()
        .flat_map(|input| input.profile.architectures.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let flags: Vec<String> = inputs
        .iter()
        .flat_map(|input| input.profile.flags.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let listener_path =
        merge_listener(inputs, "listenerPath", |p| &p.listener_path, &mut conflicts);
    let listener_metadata = merge_listener(
        inputs,
        "listenerMetadata",
        |p| &p.listener_metadata,
        &mut conflicts,
    );

    conflicts.sort();
    conflicts.dedup();
    let profile = Profile {
        default_action: default.action,
        default_errno_ret: default.errno_ret,
        architectures,
        arch_map: Vec::new(),
        flags,
        listener_path,
        listener_metadata,
        syscalls: rules_of(&merged),
    };
    Ok(Merged { profile, conflicts })
}

/// The winners' variants that made it into the result (what the loser is compared with).
fn other_side(
    sides: &[(&str, &BTreeSet<Variant>)],
    winners: &BTreeSet<&str>,
    kept: &BTreeSet<Variant>,
) -> BTreeSet<Variant> {
    sides
        .iter()
        .filter(|(source, _)| winners.contains(source))
        .flat_map(|(_, set)| set.iter().filter(|v| kept.contains(*v)).cloned())
        .collect()
}

/// One name's variants from the inputs that have rules for it, and why.
fn merge_name(sides: &[(&str, &BTreeSet<Variant>)]) -> (BTreeSet<Variant>, &'static str) {
    let first = sides[0].1;
    if sides.iter().all(|(_, set)| *set == first) {
        return (first.clone(), "all agree");
    }
    let all: BTreeSet<&Variant> = sides.iter().flat_map(|(_, set)| set.iter()).collect();
    if let Some(allow) = all.iter().find(|v| v.is_unconditional_allow()) {
        return (
            BTreeSet::from([(*allow).clone()]),
            "an unconditional allow wins",
        );
    }
    let allows: BTreeSet<Variant> = all
        .iter()
        .filter(|v| v.verdict.action == Action::Allow)
        .map(|v| (*v).clone())
        .collect();
    if !allows.is_empty() {
        return (allows, "the union of the allow rules wins");
    }
    let best = all
        .iter()
        .map(|v| v.verdict)
        .max_by_key(|v| v.preference())
        .expect("a name has rules");
    (
        all.iter()
            .filter(|v| v.verdict == best)
            .map(|v| (*v).clone())
            .collect(),
        "nobody allows it: the most permissive action wins",
    )
}

fn merge_listener(
    inputs: &[Input],
    field: &str,
    get: impl Fn(&Profile) -> &Option<String>,
    conflicts: &mut Vec<Conflict>,
) -> Option<String> {
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for input in inputs {
        if let Some(value) = get(input.profile) {
            values.entry(value).or_default().insert(input.source);
        }
    }
    let kept = values.keys().next().map(|v| v.to_string());
    if values.len() > 1 {
        let sides: Vec<String> = values
            .iter()
            .map(|(value, sources)| format!("{} {value:?}", files(sources)))
            .collect();
        conflicts.push(Conflict {
            kind: ConflictKind::Listener,
            syscall: None,
            message: format!(
                "{field} differs ({}): kept {:?}",
                sides.join("; "),
                kept.as_deref().unwrap_or_default()
            ),
        });
    }
    kept
}

/// The profile with default SCMP_ACT_LOG: everything it would block is logged and let through,
/// except what its rules block explicitly. Rules are kept as they are.
pub fn stage(profile: &Profile) -> Profile {
    Profile {
        default_action: Action::Log,
        default_errno_ret: None,
        ..profile.clone()
    }
}

/// Adds one unconditional SCMP_ACT_ALLOW rule for those of `names` that exist on an
/// architecture the profile filters (its list plus `native`) and that no rule mentions yet (so
/// nothing restricted by arguments is widened, and no explicit block is overridden). Returns
/// the names added, sorted.
pub fn allow_unruled(profile: &mut Profile, names: &BTreeSet<&str>, native: Arch) -> Vec<String> {
    let arches = filtered(profile, native);
    let ruled = profile.names();
    let added: Vec<String> = names
        .iter()
        .filter(|name| {
            !ruled.contains(*name) && arches.iter().any(|&arch| knows(arch, name) == Some(true))
        })
        .map(|name| name.to_string())
        .collect();
    if !added.is_empty() {
        profile.syscalls.push(SyscallRule {
            names: added.clone(),
            action: Action::Allow,
            ..SyscallRule::default()
        });
    }
    added
}

/// What [`promote`] makes the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforce {
    /// SCMP_ACT_ERRNO with this errno.
    Errno(u32),
    /// SCMP_ACT_KILL_PROCESS.
    KillProcess,
}

/// The profile with an enforcing default (usually from a staged SCMP_ACT_LOG one); rules kept.
/// Refuses a default of SCMP_ACT_ALLOW.
pub fn promote(profile: &Profile, enforce: Enforce) -> Result<Profile, OpError> {
    if profile.default_action == Action::Allow {
        return Err(OpError::AllowDefault);
    }
    let (default_action, default_errno_ret) = match enforce {
        Enforce::Errno(errno) => (Action::Errno, Some(errno)),
        Enforce::KillProcess => (Action::KillProcess, None),
    };
    Ok(Profile {
        default_action,
        default_errno_ret,
        ..profile.clone()
    })
}

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

/// The architectures a profile's filter covers: its list and the native one.
fn filtered(profile: &Profile, native: Arch) -> BTreeSet<Arch> {
    let mut arches: BTreeSet<Arch> = profile.architectures.iter().copied().collect();
    arches.insert(native);
    arches
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::output::diff::DiffText as _;

    fn profile(json: &str) -> Profile {
        serde_json::from_str(json).unwrap_or_else(|err| panic!("{err}: {json}"))
    }

    /// A profile as `profile record` writes it: names allowed, clone3 ENOSYS unless seen.
    fn recorded(arches: &[&str], names: &[&str]) -> Profile {
        let mut rules = vec![json!({ "names": names, "action": "SCMP_ACT_ALLOW" })];
        if !names.contains(&"clone3") {
            rules.push(json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }));
        }
        profile(
            &json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": arches,
                "syscalls": rules,
            })
            .to_string(),
        )
    }

    fn merged(inputs: &[(&str, &Profile)]) -> Merged {
        let inputs: Vec<Input> = inputs
            .iter()
            .map(|(source, profile)| Input { source, profile })
            .collect();
        merge(&inputs).unwrap()
    }

    fn messages(merged: &Merged) -> Vec<String> {
        merged.conflicts.iter().map(|c| c.message.clone()).collect()
    }

    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.to_vec();
            let first = rest.remove(i);
            for mut tail in permutations(&rest) {
                tail.insert(0, first.clone());
                out.push(tail);
            }
        }
        out
    }

    #[test]
    fn every_order_of_three_inputs_gives_the_same_bytes_and_warnings() {
        let a = recorded(&["SCMP_ARCH_X86_64"], &["read", "write", "exit_group"]);
        let b = recorded(
            &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            &["read", "clone3", "getppid"],
        );
        let c = profile(
            r#"{"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X32"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls": [
                  {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                  {"names": ["write", "ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
                  {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}
                ]}"#,
        );
        let inputs = [("a.json", &a), ("b.json", &b), ("c.json", &c)];
        let first = merged(&inputs);
        let bytes = first.profile.to_canonical_json();
        for order in permutations(&inputs) {
            let other = merged(&order);
            assert_eq!(other.profile.to_canonical_json(), bytes, "order {order:?}");
            assert_eq!(other.conflicts, first.conflicts, "order {order:?}");
        }
        let expected = r#"{
  "defaultAction": "SCMP_ACT_LOG",
  "architectures": [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32"
  ],
  "flags": [
    "SECCOMP_FILTER_FLAG_LOG"
  ],
  "syscalls": [
    {
      "names": [
        "clone3",
        "exit_group",
        "getppid",
        "read",
        "write"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "names": [
        "personality"
      ],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {
          "index": 0,
          "value": 0,
          "op": "SCMP_CMP_EQ"
        }
      ]
    },
    {
      "names": [
        "personality"
      ],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {
          "index": 0,
          "value": 8,
          "op": "SCMP_CMP_EQ"
        }
      ]
    },
    {
      "names": [
        "ptrace"
      ],
      "action": "SCMP_ACT_KILL_PROCESS"
    }
  ]
}
"#;
        assert_eq!(bytes, expected);
        assert_eq!(
            messages(&first),
            [
                "default actions differ (a.json, b.json SCMP_ACT_ERRNO(1); c.json SCMP_ACT_LOG): kept SCMP_ACT_LOG (the most permissive; between errnos the smaller)",
                "write: c.json has SCMP_ACT_KILL_PROCESS; a.json has SCMP_ACT_ALLOW: kept SCMP_ACT_ALLOW (an unconditional allow wins)",
            ]
        );
    }

    #[test]
    fn replicas_merge_into_the_union_and_a_seen_clone3_replaces_the_fallback_quietly() {
        let a = recorded(&["SCMP_ARCH_X86_64"], &["read", "clone3"]);
        let b = recorded(&["SCMP_ARCH_X86_64"], &["read", "openat"]);
        let m = merged(&[("a.json", &a), ("b.json", &b)]);
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
        assert_eq!(
            m.profile,
            recorded(&["SCMP_ARCH_X86_64"], &["clone3", "openat", "read"])
        );
    }

    #[test]
    fn the_clone3_fallback_stays_when_nobody_allows_clone3() {
        let a = recorded(&["SCMP_ARCH_X86_64"], &["read"]);
        let b = recorded(&["SCMP_ARCH_X86_64"], &["write"]);
        let m = merged(&[("a.json", &a), ("b.json", &b)]);
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
        assert_eq!(
            m.profile,
            recorded(&["SCMP_ARCH_X86_64"], &["read", "write"])
        );
        // A merge of one profile is that profile, in the canonical layout.
        let one = merged(&[("a.json", &a)]);
        assert_eq!(one.profile, a);
        assert!(one.conflicts.is_empty());
    }

    #[test]
    fn an_audit_result_is_folded_into_a_recording() {
        let recording = recorded(&["SCMP_ARCH_X86_64"], &["read", "write"]);
        let seen = profile(
            r#"{"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["uname", "getpid"], "action": "SCMP_ACT_ALLOW"}]}"#,
        );
        let m = merged(&[("web.json", &recording), ("seen.json", &seen)]);
        assert_eq!(
            m.profile.syscalls[0].names,
            ["getpid", "read", "uname", "write"]
        );
        assert_eq!(m.profile.syscalls[1].names, ["clone3"]);
        assert_eq!(m.profile.default_action, Action::Log);
        assert_eq!(m.profile.default_errno_ret, None);
        // The default disagreement is the only conflict; promote drops it.
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].kind, ConflictKind::Default);
        // `profile audit` writes default ERRNO(1), as record does: nothing to report then.
        let audit = Profile {
            default_action: Action::Errno,
            default_errno_ret: Some(1),
            ..seen.clone()
        };
        let m = merged(&[("web.json", &recording), ("seen.json", &audit)]);
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
        assert_eq!(
            m.profile,
            recorded(&["SCMP_ARCH_X86_64"], &["getpid", "read", "uname", "write"])
        );
    }

    #[test]
    fn conditional_allows_beat_other_actions_and_unconditional_allows_beat_conditions() {
        let cond = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_NE"}]}]}"#,
        );
        let other = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW"}]}"#,
        );
        let m = merged(&[("cond.json", &cond), ("other.json", &other)]);
        assert_eq!(
            messages(&m),
            [
                "personality: other.json has SCMP_ACT_ERRNO(22); cond.json has SCMP_ACT_ALLOW if arg0 == 4294967295: kept SCMP_ACT_ALLOW if arg0 == 4294967295 (the union of the allow rules wins)",
                "socket: cond.json has SCMP_ACT_ALLOW if arg0 != 16; other.json has SCMP_ACT_ALLOW: kept SCMP_ACT_ALLOW (an unconditional allow wins)",
            ]
        );
        let rules: Vec<String> = m
            .profile
            .syscalls
            .iter()
            .map(|r| format!("{} {}", r.names.join(","), Variant::of(r)))
            .collect();
        assert_eq!(
            rules,
            [
                "socket SCMP_ACT_ALLOW",
                "personality SCMP_ACT_ALLOW if arg0 == 4294967295"
            ]
        );
    }

    #[test]
    fn without_an_allow_the_most_permissive_action_wins() {
        let a = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
        );
        let b = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": [
                {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]}"#,
        );
        let m = merged(&[("a.json", &a), ("b.json", &b)]);
        // ERRNO without errnoRet is EPERM: the same as errnoRet 1, not a conflict.
        assert_eq!(
            messages(&m),
            ["ptrace: a.json has SCMP_ACT_KILL_PROCESS; b.json has SCMP_ACT_ERRNO(38): kept SCMP_ACT_ERRNO(38) (nobody allows it: the most permissive action wins)"]
        );
        assert_eq!(m.profile.default_errno_ret, Some(1));
    }

    #[test]
    fn a_block_against_a_logging_default_is_reported() {
        let a = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"}]}"#,
        );
        let b = profile(r#"{"defaultAction": "SCMP_ACT_LOG"}"#);
        let m = merged(&[("a.json", &a), ("b.json", &b)]);
        assert_eq!(
            messages(&m),
            [
                "default actions differ (a.json SCMP_ACT_ERRNO(1); b.json SCMP_ACT_LOG): kept SCMP_ACT_LOG (the most permissive; between errnos the smaller)",
                "ptrace: b.json lets it through by default; a.json has SCMP_ACT_KILL_PROCESS: kept SCMP_ACT_KILL_PROCESS (explicit rules win over another input's default)",
            ]
        );
    }

    #[test]
    fn stage_then_promote_gives_the_recording_back() {
        let p = recorded(&["SCMP_ARCH_X86_64"], &["read", "write"]);
        let staged = stage(&p);
        assert_eq!(staged.default_action, Action::Log);
        assert_eq!(staged.default_errno_ret, None);
        assert_eq!(staged.syscalls, p.syscalls);
        assert_eq!(promote(&staged, Enforce::Errno(1)).unwrap(), p);
        let killing = promote(&staged, Enforce::KillProcess).unwrap();
        assert_eq!(killing.default_action, Action::KillProcess);
        assert_eq!(killing.default_errno_ret, None);
        assert_eq!(stage(&killing), staged);
        let eacces = promote(&staged, Enforce::Errno(13)).unwrap();
        assert_eq!(eacces.default_errno_ret, Some(13));
    }

    #[test]
    fn promote_refuses_a_deny_list() {
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}]}"#,
        );
        assert_eq!(promote(&p, Enforce::Errno(1)), Err(OpError::AllowDefault));
    }

    #[test]
    fn diff_text_and_json_for_fixed_inputs() {
        let old = recorded(&["SCMP_ARCH_X86_64"], &["read", "write", "mmap"]);
        let new = profile(
            r#"{"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "syscalls": [
                  {"names": ["write", "read", "openat", "socketcall"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["mmap"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 2, "value": 4, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                  {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
                ]}"#,
        );
        let d = diff(&old, &new, Arch::X86_64);
        // socketcall is i386's only; x86_64's table lacks it, so only i386 gains it.
        assert_eq!(
            d.to_text("old.json", "new.json"),
            "\
--- old.json
+++ new.json
default: SCMP_ACT_ERRNO(1) -> SCMP_ACT_LOG
architectures: +i386
x86_64:
  SCMP_ACT_ALLOW: +openat -mmap
  SCMP_ACT_ALLOW if arg2 & 0x4 == 0x0: +mmap
i386:
  SCMP_ACT_ALLOW: +openat +read +socketcall +write
  SCMP_ACT_ALLOW if arg2 & 0x4 == 0x0: +mmap
  SCMP_ACT_ERRNO(38): +clone3
"
        );
        let json: Value = serde_json::from_str(&d.to_json()).unwrap();
        assert_eq!(json["equal"], false);
        assert_eq!(
            json["defaultAction"]["old"],
            json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 1})
        );
        assert_eq!(
            json["defaultAction"]["new"],
            json!({"action": "SCMP_ACT_LOG"})
        );
        assert_eq!(json["architectures"]["added"], json!(["SCMP_ARCH_X86"]));
        assert_eq!(
            json["syscalls"]["SCMP_ARCH_X86_64"],
            json!([
                {"action": "SCMP_ACT_ALLOW", "added": ["openat"], "removed": ["mmap"]},
                {"action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 2, "value": 4, "op": "SCMP_CMP_MASKED_EQ"}],
                 "added": ["mmap"], "removed": []}
            ])
        );
        // The other way round, additions become removals.
        let back = diff(&new, &old, Arch::X86_64);
        assert_eq!(back.architectures_removed, [Arch::X86]);
        assert_eq!(back.syscalls[&Arch::X86_64][0].removed, ["openat"]);
    }

    #[test]
    fn diff_ignores_layout_and_groups_equal_architectures() {
        let a = recorded(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], &["read", "write"]);
        let b = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "syscalls": [
                  {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                  {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["read", "read"], "action": "SCMP_ACT_ALLOW"}
                ]}"#,
        );
        let d = diff(&a, &b, Arch::X86_64);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(d.to_text("a", "b"), "");
        assert!(d.to_json().contains("\"equal\": true"));
        let c = recorded(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], &["read", "getpid"]);
        assert_eq!(
            diff(&a, &c, Arch::X86_64).to_text("a", "c"),
            "--- a\n+++ c\nx86_64, i386:\n  SCMP_ACT_ALLOW: +getpid -write\n"
        );
    }

    #[test]
    fn merge_output_differs_from_an_input_only_by_what_it_adds() {
        let a = recorded(&["SCMP_ARCH_X86_64"], &["read"]);
        let b = recorded(&["SCMP_ARCH_X86_64"], &["read", "uname"]);
        let m = merged(&[("a", &a), ("b", &b)]);
        assert_eq!(
            diff(&a, &m.profile, Arch::X86_64).to_text("a", "m"),
            "--- a\n+++ m\nx86_64:\n  SCMP_ACT_ALLOW: +uname\n"
        );
        assert!(diff(&b, &m.profile, Arch::X86_64).is_empty());
    }

    #[test]
    fn allow_unruled_adds_only_names_without_rules() {
        let mut profile = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
                {"names":["read"],"action":"SCMP_ACT_ALLOW"},
                {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
                {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
        );
        let names = ["read", "readv", "socket", "clone3", "_llseek", "no_such"].into();
        let added = allow_unruled(&mut profile, &names, Arch::X86_64);
        assert_eq!(added, ["readv"]);
        assert_eq!(profile.syscalls.len(), 4);
        assert_eq!(profile.syscalls[3].names, ["readv"]);
        assert!(allow_unruled(&mut profile, &names, Arch::X86_64).is_empty());
        assert_eq!(profile.syscalls.len(), 4);
    }
}
