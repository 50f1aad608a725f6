//! Where runc, crun and podman (libseccomp) enforce a profile differently from its meaning:
//! our filter and the [`libseccomp`] model run side by side on the inputs that matter (every
//! constant of the conditions, its neighbours, its 32-bit halves, in combination), and each
//! syscall where they disagree is reported with one input, both decisions, the rules involved
//! and why libseccomp decides so.
use std::{collections::BTreeSet, fmt};

use super::{
    args::Width,
    bpf::{self, SeccompData, SockFilter},
    compile::{compile, width},
    error::CompileError,
    expand::{audit_arch, expand, Reading, Sourced},
    libseccomp::{self, tree::Release},
};
use crate::{
    profile::{ArgCondition, ArgOp, Profile},
    syscalls::{Arch, X32_SYSCALL_BIT},
};

/// Why libseccomp decides otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Rules with different actions match; libseccomp's tree picks by its own node order, not
    /// by a precedence.
    Overlap,
    /// runc drops a rule whose action is the default's, though it matches where another rule
    /// does.
    DefaultDropped,
    /// runc turns two conditions on one argument into two rules, either of which suffices.
    SameArgumentOred,
    /// libseccomp masks MASKED_EQ's value too, so a value with bits outside the mask (which no
    /// masked argument can equal) matches like its masked part.
    MaskedValue,
    /// libseccomp's generator compares another word than the condition's (it skips a reload).
    WrongWord,
    /// `_db_tree_add` set the wrong edge's action (GHSA-4q85-33p6-j5g6, fixed in 2.6.1).
    TreeMergeTypo,
}

impl Cause {
    fn explain(self) -> &'static str {
        match self {
            Cause::Overlap => {
                "several of them match with different actions and libseccomp picks by its tree's \
                 order, not by strictness; make their conditions exclusive"
            }
            Cause::DefaultDropped => {
                "runc drops a rule whose action is the default's, so the other rule wins where both \
                 match; make their conditions exclusive"
            }
            Cause::SameArgumentOred => {
                "runc turns two conditions on one argument into two rules, either of which \
                 suffices; use one condition per argument (MASKED_EQ for a set of bits)"
            }
            Cause::MaskedValue => {
                "libseccomp compares a MASKED_EQ with the value masked too, so a value with bits \
                 outside the mask (which no masked argument equals) matches like its masked part; \
                 drop those bits from the value"
            }
            Cause::WrongWord => {
                "libseccomp's code generator compares the wrong 32-bit word of the argument when \
                 checks of it follow each other (up to 2.6.1 at least); split the rules so that no \
                 bound above 2^32 shares an argument with another check"
            }
            Cause::TreeMergeTypo => {
                "libseccomp before 2.6.1 merges the rules' high-word checks into the wrong action \
                 (GHSA-4q85-33p6-j5g6); update libseccomp or make the conditions exclusive"
            }
        }
    }
}

/// One syscall on one ABI that libseccomp's filter decides otherwise for some input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    pub arch: Arch,
    pub name: String,
    pub args: [u64; 6],
    /// Which arguments the rules look at (shown in the input).
    pub shown: Vec<usize>,
    /// Action values: the profile's meaning (our filter), and libseccomp's.
    pub meaning: u32,
    pub libseccomp: u32,
    /// The profile rules (indices into `syscalls`) for this syscall.
    pub rules: Vec<usize>,
    pub cause: Cause,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<String> = self
            .shown
            .iter()
            .map(|&i| format!("a{i}={:#x}", self.args[i]))
            .collect();
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|r| format!("syscalls[{r}]"))
            .collect();
        write!(
            f,
            "runc, crun and podman (libseccomp) {} {}({}) on {}, which this profile {} ({}: {})",
            verb(self.libseccomp, false),
            self.name,
            args.join(", "),
            self.arch.short_name(),
            verb(self.meaning, true),
            rules.join(", "),
            self.cause.explain()
        )
    }
}

/// What an action does to a call, as a verb: "allow", "deny (ERRNO(1))".
fn verb(ret: u32, singular: bool) -> String {
    let s = if singular { "s" } else { "" };
    match super::action_name(ret).as_str() {
        "ALLOW" => format!("allow{s}"),
        "LOG" => format!("allow{s} (LOG)"),
        other if singular => format!("denies ({other})"),
        other => format!("deny ({other})"),
    }
}

/// Every syscall whose enforcement by libseccomp differs from the profile's meaning. `Err`
/// when the profile cannot be compiled at all (libseccomp refuses it too).
pub fn divergences(profile: &Profile, native: Arch) -> Result<Vec<Divergence>, CompileError> {
    let ours = compile(profile, native)?;
    let theirs = libseccomp::compile(profile, native, Release::Before2_6_1)?;
    let fixed = libseccomp::compile(profile, native, Release::From2_6_1)?;
    let meaning = expand(profile, native, Reading::Meaning, None)?;
    let mut found = Vec::new();
    for (&arch, by_nr) in &meaning.rules {
        let token = audit_arch(arch)?;
        for (&nr, sourced) in by_nr {
            let used: BTreeSet<usize> = sourced
                .iter()
                .flat_map(|s| s.rule.conditions.iter().map(|c| c.index as usize))
                .collect();
            if used.is_empty() {
                continue;
            }
            let differs = |args: [u64; 6]| -> Option<(u32, u32, u32)> {
                let data = SeccompData {
                    nr,
                    arch: token,
                    args,
                    ..Default::default()
                };
                let run = |p: &[SockFilter]| bpf::run(p, &data).expect("our filters run");
                let (a, b) = (run(&ours), run(&theirs));
                (a != b).then(|| (a, b, run(&fixed)))
            };
            let Some((args, (mine, theirs_ret, fixed_ret))) = probes(sourced, &used)
                .into_iter()
                .find_map(|args| differs(args).map(|d| (args, d)))
            else {
                continue;
            };
            let mut rules: Vec<usize> = sourced.iter().map(|s| s.index).collect();
            rules.sort_unstable();
            rules.dedup();
            let cause = cause(
                profile,
                arch,
                sourced,
                &args,
                meaning.default,
                fixed_ret == mine,
            );
            // The syscall itself: socketcall or ipc for i386's multiplexed calls.
            let name = arch
                .name(u64::from(nr & !X32_SYSCALL_BIT))
                .unwrap_or(sourced[0].name);
            found.push(Divergence {
                arch,
                name: name.to_owned(),
                args,
                shown: used.into_iter().collect(),
                meaning: mine,
                libseccomp: theirs_ret,
                rules,
                cause,
            });
        }
    }
    Ok(found)
}

/// Argument values worth trying: each constant, its neighbours and 32-bit halves, combined
/// over the arguments the rules use (all combinations when few, else a fixed sample).
fn probes(sourced: &[Sourced], used: &BTreeSet<usize>) -> Vec<[u64; 6]> {
    let mut values = BTreeSet::from([0, 1, u64::MAX, 0xffff_ffff, 0x1_0000_0000]);
    for c in sourced.iter().flat_map(|s| &s.rule.conditions) {
        for v in [c.value, c.value_two, c.value & c.value_two] {
            values.extend([
                v,
                v.wrapping_sub(1),
                v.wrapping_add(1),
                v & 0xffff_ffff,
                v ^ 0xffff_ffff_0000_0000,
                v ^ 0x1_0000_0000,
            ]);
        }
    }
    let values: Vec<u64> = values.into_iter().collect();
    let used: Vec<usize> = used.iter().copied().collect();
    let mut out = Vec::new();
    let combinations = values.len().saturating_pow(used.len() as u32);
    if combinations <= 20_000 {
        for mut k in 0..combinations {
            let mut args = [0; 6];
            for &i in &used {
                args[i] = values[k % values.len()];
                k /= values.len();
            }
            out.push(args);
        }
    } else {
        // A fixed xorshift sample, so a report is the same every time.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut args = [0; 6];
            for &i in &used {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                args[i] = values[(state % values.len() as u64) as usize];
            }
            out.push(args);
        }
    }
    out
}

fn cause(
    profile: &Profile,
    arch: Arch,
    sourced: &[Sourced],
    args: &[u64; 6],
    default: u32,
    fixed_in_2_6_1: bool,
) -> Cause {
    let width = width(arch);
    let matching: Vec<&Sourced> = sourced
        .iter()
        .filter(|s| s.rule.conditions.iter().all(|c| holds(c, args, width)))
        .collect();
    let actions: BTreeSet<u32> = matching.iter().map(|s| s.rule.action).collect();
    if matching.iter().any(|s| s.rule.action == default) && actions.len() > 1 {
        Cause::DefaultDropped
    } else if actions.len() > 1 {
        Cause::Overlap
    } else if sourced.iter().any(|s| {
        let rule = &profile.syscalls[s.index];
        rule.args
            .iter()
            .enumerate()
            .any(|(i, a)| rule.args[..i].iter().any(|b| b.index == a.index))
    }) {
        Cause::SameArgumentOred
    } else if sourced
        .iter()
        .flat_map(|s| &s.rule.conditions)
        .any(|c| c.op == ArgOp::MaskedEqual && c.value_two & !c.value != 0)
    {
        Cause::MaskedValue
    } else if fixed_in_2_6_1 {
        Cause::TreeMergeTypo
    } else {
        Cause::WrongWord
    }
}

/// Whether condition `c` holds for these arguments, by the profile's meaning.
fn holds(c: &ArgCondition, args: &[u64; 6], width: Width) -> bool {
    let bits = match width {
        Width::Bits64 => u64::MAX,
        Width::Bits32 => 0xffff_ffff,
    };
    let (arg, value, two) = (
        args[c.index as usize] & bits,
        c.value & bits,
        c.value_two & bits,
    );
    match c.op {
        ArgOp::NotEqual => arg != value,
        ArgOp::LessThan => arg < value,
        ArgOp::LessOrEqual => arg <= value,
        ArgOp::Equal => arg == value,
        ArgOp::GreaterOrEqual => arg >= value,
        ArgOp::GreaterThan => arg > value,
        ArgOp::MaskedEqual => arg & value == two,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> Profile {
        serde_json::from_str(json).unwrap()
    }

    fn causes(json: &str) -> Vec<(String, Cause)> {
        divergences(&profile(json), Arch::X86_64)
            .unwrap()
            .into_iter()
            .map(|d| (format!("{} {}", d.arch.short_name(), d.name), d.cause))
            .collect()
    }

    #[test]
    fn each_way_libseccomp_decides_otherwise_is_named() {
        assert_eq!(
            causes(
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2, "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_LT"}]},
                {"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4294967299, "op": "SCMP_CMP_GT"}]}]}"#
            ),
            [("x86_64 getppid".to_owned(), Cause::WrongWord)]
        );
        assert_eq!(
            causes(
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["getppid"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_NE"}]},
                {"names": ["getppid"], "action": "SCMP_ACT_TRAP", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_NE"}]}]}"#
            ),
            [("x86_64 getppid".to_owned(), Cause::Overlap)]
        );
        assert_eq!(
            causes(
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 240, "valueTwo": 49, "op": "SCMP_CMP_MASKED_EQ"}]}]}"#
            ),
            [("x86_64 getppid".to_owned(), Cause::MaskedValue)]
        );
        assert_eq!(
            causes(
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"], "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#
            ),
            []
        );
        assert_eq!(
            causes(
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_LT"}]},
                {"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_LT"}]}]}"#
            ),
            [("x86_64 getppid".to_owned(), Cause::DefaultDropped)]
        );
        assert_eq!(
            causes(
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_GE"}, {"index": 0, "value": 10, "op": "SCMP_CMP_LE"}]}]}"#
            ),
            [("x86_64 getppid".to_owned(), Cause::SameArgumentOred)]
        );
        // Nothing to say about a plain allow-list or exclusive conditions.
        assert!(causes(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#
        )
        .is_empty());
    }

    #[test]
    fn a_profile_libseccomp_refuses_is_an_error() {
        let refused = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_TRAP", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(matches!(
            divergences(&refused, Arch::X86_64),
            Err(CompileError::Rule { rule: 1, .. })
        ));
    }
}
