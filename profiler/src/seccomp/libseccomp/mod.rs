//! A model of the filter libseccomp builds for a profile as runc drives it (runc, crun and
//! podman all enforce through libseccomp): which profiles it refuses, and what its filter
//! decides for every input, its faults included. It is not how we enforce (that is
//! [`compile`](super::compile), by the profile's meaning); it tells users where their runtime
//! enforces a profile differently from what the profile says ([`divergence`](super::divergence)).
//!
//! The argument trees are [`tree`]'s port of db.c; their instructions are [`gen`]'s port of
//! gen_bpf.c, blocks shared across the filter and placed in libseccomp's order, because where
//! a shared block is placed decides whether it reloads the accumulator. The layout around them
//! (architecture dispatch, number search) is ours, which changes no decision.
pub mod gen;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};

use self::{
    gen::{Code, Entry},
    tree::{Release, Syscall, TreeError},
};
use super::{
    bpf::{Assembler, SockFilter},
    error::CompileError,
    expand::{expand, multiplexed, Expanded, Reading, Rule, Sourced},
    layout::{self, Decision},
};
use crate::{profile::Profile, syscalls::Arch};

/// Whether libseccomp (as runc drives it) accepts `profile`: the error it would fail with.
/// Only argument trees can be refused: those of names that some rule with conditions names,
/// and on i386 those of the calls multiplexed through socketcall and ipc (an argument check
/// on the call number); only those are looked at.
pub fn accepts(profile: &Profile, native: Arch) -> Result<(), CompileError> {
    let i386 = native == Arch::X86 || profile.architectures.contains(&Arch::X86);
    let with_args: BTreeSet<&str> = profile
        .syscalls
        .iter()
        .flat_map(|rule| {
            rule.names
                .iter()
                .map(String::as_str)
                .filter(|name| !rule.args.is_empty() || (i386 && multiplexed(name).is_some()))
        })
        .collect();
    let expanded = expand(profile, native, Reading::Runc, Some(&with_args))?;
    trees(&expanded, Release::default()).map(|_| ())
}

/// libseccomp's decision for every syscall number: a return, or an argument tree.
type Trees = BTreeMap<Arch, BTreeMap<u32, Decision<tree::ArgTree>>>;

fn trees(expanded: &Expanded, release: Release) -> Result<Trees, CompileError> {
    let mut trees = Trees::new();
    for (&arch, by_nr) in &expanded.rules {
        let wide = !matches!(arch, Arch::X86 | Arch::X32 | Arch::Arm);
        let decided = trees.entry(arch).or_default();
        for (&nr, sourced) in by_nr {
            // Most syscalls of a profile have one unconditional rule: no tree to build.
            if let [s] = sourced.as_slice() {
                if s.rule.conditions.is_empty() {
                    decided.insert(nr, Decision::Return(s.rule.action));
                    continue;
                }
            }
            let rules: Vec<Rule> = sourced.iter().map(|s| s.rule.clone()).collect();
            let decision = match tree::build(&rules, wide, release) {
                Ok(Syscall::Return(ret)) => Decision::Return(ret),
                Ok(Syscall::Tree(tree)) => Decision::Args(tree),
                Err(source) => {
                    let Sourced { index, name, .. } = &sourced[tree_error_rule(&source)];
                    return Err(CompileError::Rule {
                        rule: *index,
                        name: (*name).to_owned(),
                        arch: arch.short_name(),
                        source,
                    });
                }
            };
            decided.insert(nr, decision);
        }
    }
    Ok(trees)
}

/// A filter that decides as the one `release` of libseccomp builds for `profile` on a kernel
/// whose native architecture is `native`.
pub fn compile(
    profile: &Profile,
    native: Arch,
    release: Release,
) -> Result<Vec<SockFilter>, CompileError> {
    let expanded = expand(profile, native, Reading::Runc, None)?;
    let trees = trees(&expanded, release)?;
    let mut code = Code::default();
    let mut decisions: BTreeMap<Arch, BTreeMap<u32, Decision<Entry>>> = BTreeMap::new();
    // libseccomp's priority of each syscall with an argument tree.
    let mut priorities: BTreeMap<Arch, Vec<(u32, Entry)>> = BTreeMap::new();
    for (&arch, by_nr) in &trees {
        let decided = decisions.entry(arch).or_default();
        for (&nr, decision) in by_nr {
            let decision = match decision {
                Decision::Return(ret) => Decision::Return(*ret),
                Decision::Args(tree) => {
                    let entry = code.add(tree, expanded.default);
                    priorities
                        .entry(arch)
                        .or_default()
                        .push((tree.priority(), entry));
                    Decision::Args(entry)
                }
            };
            decided.insert(nr, decision);
        }
    }
    // libseccomp has one list of syscall checks per token, in filter order, each sorted by
    // priority (highest first; stable, from the syscalls in number order, x86_64's and x32's
    // one after the other); its assembler pulls argument blocks in walking these lists from
    // the very end back.
    for (_, token_arches) in layout::tokens(&expanded.arches)?.iter().rev() {
        let mut list: Vec<(u32, Entry)> = token_arches
            .iter()
            .flat_map(|arch| priorities.get(arch).into_iter().flatten().copied())
            .collect();
        list.sort_by_key(|&(priority, _)| std::cmp::Reverse(priority));
        for &(_, entry) in list.iter().rev() {
            code.place(entry);
        }
    }
    let mut asm = Assembler::default();
    let entries = layout::emit(&mut asm, &expanded.arches, &decisions, expanded.default)?;
    code.emit(&mut asm, &entries.list);
    Ok(asm.finish())
}

/// Which of a syscall's rules a tree error is about.
fn tree_error_rule(err: &TreeError) -> usize {
    match *err {
        TreeError::Conflict { rule }
        | TreeError::SameArgument { rule, .. }
        | TreeError::Hang { rule }
        | TreeError::ArgIndex { rule, .. } => rule,
    }
}
