//! The outer part of a filter: which architecture a call comes from, then what its syscall
//! number gets. Numbers with equal decisions are merged into ranges and found by
//! [`search`](super::search), so large profiles stay far below the kernel's limit; a number
//! whose decision depends on its arguments jumps to their checks, and only those paths load an
//! argument, so the kernel's action cache covers every other syscall.
use std::collections::BTreeMap;

use super::{
    bpf::{Assembler, JumpTo, BPF_JEQ},
    error::CompileError,
    expand::{audit_arch, AUDIT_ARCH_X86_64},
    search::{self, Shape},
    RET_KILL_THREAD,
};
use crate::syscalls::{Arch, X32_SYSCALL_BIT};

/// libseccomp's action for a call from an architecture the filter does not cover.
pub const BAD_ARCH: u32 = RET_KILL_THREAD;

/// What the filter does with one syscall number: return, or check the arguments at `E`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<E> {
    Return(u32),
    Args(E),
}

/// The labels of the argument checks the layout jumps to, made as it first reaches each; the
/// argument code places them.
pub struct Entries<E> {
    pub list: Vec<(usize, E)>,
}

impl<E: Copy + Eq> Entries<E> {
    fn label(&mut self, asm: &mut Assembler, entry: E) -> usize {
        match self.list.iter().find(|(_, e)| *e == entry) {
            Some(&(label, _)) => label,
            None => {
                let label = asm.new_label();
                self.list.push((label, entry));
                label
            }
        }
    }
}

/// The architecture tokens of `arches` (x86_64 and x32 share one), in order of first use.
pub fn tokens(arches: &[Arch]) -> Result<Vec<(u32, Vec<Arch>)>, CompileError> {
    let mut tokens: Vec<(u32, Vec<Arch>)> = Vec::new();
    for &arch in arches {
        let token = audit_arch(arch)?;
        match tokens.iter_mut().find(|(t, _)| *t == token) {
            Some((_, list)) => list.push(arch),
            None => tokens.push((token, vec![arch])),
        }
    }
    Ok(tokens)
}

/// Emits the architecture dispatch and each architecture's number search; returns the argument
/// checks it jumps to, whose code the caller emits after it.
pub fn emit<E: Copy + Eq>(
    asm: &mut Assembler,
    arches: &[Arch],
    decisions: &BTreeMap<Arch, BTreeMap<u32, Decision<E>>>,
    default: u32,
) -> Result<Entries<E>, CompileError> {
    let mut entries = Entries { list: Vec::new() };
    let tokens = tokens(arches)?;
    let labels: Vec<usize> = tokens.iter().map(|_| asm.new_label()).collect();
    asm.load_abs(4);
    for (i, ((token, _), &entry)) in tokens.iter().zip(&labels).enumerate() {
        let otherwise = if i + 1 == tokens.len() {
            JumpTo::Return(BAD_ARCH)
        } else {
            JumpTo::Next
        };
        asm.jump(BPF_JEQ, *token, JumpTo::Label(entry), otherwise);
    }
    for ((token, token_arches), &entry) in tokens.iter().zip(&labels) {
        asm.place(entry);
        asm.load_abs(0);
        let ranges: Vec<(u32, JumpTo)> = ranges(*token, token_arches, decisions, default)
            .into_iter()
            .map(|(start, decision)| {
                let target = match decision {
                    Decision::Return(ret) => JumpTo::Return(ret),
                    Decision::Args(e) => JumpTo::Label(entries.label(asm, e)),
                };
                (start, target)
            })
            .collect();
        search::emit(
            asm,
            &ranges,
            Shape {
                long_value_chains: false,
            },
        );
    }
    Ok(entries)
}

/// The decision for every syscall number of one architecture token, as ranges `[start, next
/// start)` with equal decisions merged.
fn ranges<E: Copy + Eq>(
    token: u32,
    token_arches: &[Arch],
    decisions: &BTreeMap<Arch, BTreeMap<u32, Decision<E>>>,
    default: u32,
) -> Vec<(u32, Decision<E>)> {
    // Which parts of the number space the filter covers. libseccomp treats x86_64 and x32 as
    // one number space when both are present; with x86_64 alone, numbers with the x32 bit are a
    // bad architecture, except -1 (no syscall, e.g. after a tracer cancelled it).
    let spans: Vec<(u32, bool)> = if token == AUDIT_ARCH_X86_64 {
        match (
            token_arches.contains(&Arch::X86_64),
            token_arches.contains(&Arch::X32),
        ) {
            (true, false) => vec![(0, true), (X32_SYSCALL_BIT, false), (u32::MAX, true)],
            (false, true) => vec![(0, false), (X32_SYSCALL_BIT, true)],
            _ => vec![(0, true)],
        }
    } else {
        vec![(0, true)]
    };
    let span_of = |nr: u32| {
        spans
            .iter()
            .rposition(|(start, _)| *start <= nr)
            .expect("span 0 starts at 0")
    };
    let mut points: Vec<(u32, Decision<E>)> = spans
        .iter()
        .map(|&(start, covered)| {
            (
                start,
                Decision::Return(if covered { default } else { BAD_ARCH }),
            )
        })
        .collect();
    for &arch in token_arches {
        for (&nr, decision) in &decisions[&arch] {
            let span = span_of(nr);
            if !spans[span].1 {
                continue;
            }
            points.push((nr, *decision));
            if nr < u32::MAX && span_of(nr + 1) == span {
                points.push((nr + 1, Decision::Return(default)));
            }
        }
    }
    points.sort_by_key(|(start, _)| *start);
    // A later point at the same start overrides (a syscall's own decision over the default).
    let mut ranges: Vec<(u32, Decision<E>)> = Vec::new();
    for (start, decision) in points {
        if ranges.last().is_some_and(|(s, _)| *s == start) {
            ranges.pop();
        }
        if ranges.last().is_none_or(|(_, d)| *d != decision) {
            ranges.push((start, decision));
        }
    }
    ranges
}
