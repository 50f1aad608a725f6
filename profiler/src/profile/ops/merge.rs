//! [`merge`]: the union of what profiles allow (the rules are in [`ops`](super)).
use super::*;

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
