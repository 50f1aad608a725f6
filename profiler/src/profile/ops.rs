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
mod diff;
mod merge;
mod rollout;

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet},
    fmt,
};

pub use diff::{diff, Change, Diff};
pub use merge::{merge, Conflict, ConflictKind, Input, Merged, OpError};
pub use rollout::{allow_unruled, promote, stage, Enforce};

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

/// The architectures a profile's filter covers: its list and the native one.
fn filtered(profile: &Profile, native: Arch) -> BTreeSet<Arch> {
    let mut arches: BTreeSet<Arch> = profile.architectures.iter().copied().collect();
    arches.insert(native);
    arches
}

#[cfg(test)]
mod tests;
