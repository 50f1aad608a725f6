//! The argument checks of the syscalls whose decision depends on their arguments, decided by
//! the profile's meaning:
//!
//! - a rule matches when all its conditions hold: 64-bit unsigned comparisons of the argument
//!   with the rule's value, MASKED_EQ as `(arg & mask) == value`; on the 32-bit ABIs (i386,
//!   x32), whose C types are 32 bits wide, arguments and values are 32-bit numbers: the low
//!   halves of register and value are compared, as libseccomp does and as the kernel's handlers
//!   for those ABIs read their `int`s and pointers;
//! - when no rule matches, the default action;
//! - when rules with different actions match, the one that comes first in the kernel's own order
//!   between stacked filters (KILL_PROCESS, KILL_THREAD, TRAP, ERRNO, USER_NOTIF, TRACE, LOG,
//!   ALLOW), and between two of the same kind the smaller errno (or TRACE data). The order of
//!   rules never matters, as `profile merge` and `diff` assume.
//!
//! The checks are a decision graph over the 32-bit words of the arguments: each node tests one
//! word (its value against boundaries, or one masked comparison) and every path assigns each
//! rule "holds", "fails" or "still open"; a path ends when no open rule could still change the
//! decision. Nodes are shared wherever what is still open is the same, within a syscall and
//! across syscalls and architectures.
use std::collections::HashMap;

use super::{
    bpf::{Assembler, JumpTo, BPF_JEQ},
    expand::Rule,
    search::{self, Shape},
};
use crate::profile::{ArgCondition, ArgOp};

/// How wide the arguments of an ABI are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    Bits64,
    /// Arguments and values are their low 32 bits.
    Bits32,
}

/// Whether action `a` wins over action `b` when rules with both match (see the module doc).
pub fn precedes(a: u32, b: u32) -> bool {
    let key = |ret: u32| {
        (
            (ret & libc::SECCOMP_RET_ACTION_FULL) as i32,
            ret & libc::SECCOMP_RET_DATA,
        )
    };
    key(a) < key(b)
}

/// What is still to be checked of one condition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Check {
    /// A 64-bit condition whose high word is not seen yet.
    Whole {
        arg: u8,
        op: ArgOp,
        value: u64,
        value_two: u64,
    },
    /// The low word of `arg` lies in one of these inclusive intervals (sorted, disjoint).
    LowIn { arg: u8, spans: Vec<(u32, u32)> },
    /// The low word of `arg`, ANDed with `mask`, equals `value`.
    LowMasked { arg: u8, mask: u32, value: u32 },
}

/// A word of `struct seccomp_data`'s arguments, in the order they are tested: by argument,
/// the high word before the low one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Word {
    arg: u8,
    low: bool,
}

impl Word {
    fn offset(self) -> u32 {
        16 + 8 * u32::from(self.arg) + if self.low { 0 } else { 4 }
    }
}

enum Outcome {
    Holds,
    Fails,
    Open(Check),
}

impl Check {
    fn word(&self) -> Word {
        match *self {
            Check::Whole { arg, .. } => Word { arg, low: false },
            Check::LowIn { arg, .. } | Check::LowMasked { arg, .. } => Word { arg, low: true },
        }
    }

    /// The masked comparison this check makes on its word, when it is not a matter of
    /// intervals.
    fn masked(&self) -> Option<(u32, u32)> {
        match *self {
            Check::Whole {
                op: ArgOp::MaskedEqual,
                value,
                value_two,
                ..
            } => {
                let mask = (value >> 32) as u32;
                (mask != u32::MAX).then_some((mask, (value_two >> 32) as u32 & mask))
            }
            Check::LowMasked { mask, value, .. } => Some((mask, value)),
            _ => None,
        }
    }

    /// Where the outcome of this interval check may change: the first value of each piece.
    fn boundaries(&self, out: &mut Vec<u32>) {
        let mut piece = |lo: u32, hi: u32| {
            out.push(lo);
            if let Some(next) = hi.checked_add(1) {
                out.push(next);
            }
        };
        match self {
            Check::Whole {
                op,
                value,
                value_two,
                ..
            } => {
                // A MASKED_EQ here masks the whole high word: it must equal the datum's.
                let high = if *op == ArgOp::MaskedEqual {
                    (value_two >> 32) as u32
                } else {
                    (value >> 32) as u32
                };
                piece(high, high);
            }
            Check::LowIn { spans, .. } => {
                for &(lo, hi) in spans {
                    piece(lo, hi);
                }
            }
            Check::LowMasked { .. } => unreachable!("masked checks are split on first"),
        }
    }

    /// The outcome when the check's word has value `word` (interval checks).
    fn at(&self, word: u32) -> Outcome {
        match self {
            Check::Whole {
                arg,
                op,
                value,
                value_two,
            } => high_seen(*arg, *op, *value, *value_two, word),
            Check::LowIn { spans, .. } => {
                if spans.iter().any(|&(lo, hi)| lo <= word && word <= hi) {
                    Outcome::Holds
                } else {
                    Outcome::Fails
                }
            }
            Check::LowMasked { .. } => unreachable!("masked checks are split on first"),
        }
    }

    /// The outcome when this masked check's comparison came out `equal`.
    fn masked_outcome(&self, equal: bool) -> Outcome {
        match (self, equal) {
            (_, false) => Outcome::Fails,
            (Check::LowMasked { .. }, true) => Outcome::Holds,
            (
                Check::Whole {
                    arg,
                    value,
                    value_two,
                    ..
                },
                true,
            ) => low_masked(*arg, *value as u32, *value_two as u32),
            _ => unreachable!("only masked checks are split on"),
        }
    }
}

/// A condition before any word of its argument is seen.
fn start(c: &ArgCondition, width: Width) -> Outcome {
    let arg = c.index as u8;
    let bits = match width {
        Width::Bits64 => u64::MAX,
        Width::Bits32 => 0xffff_ffff,
    };
    if c.op == ArgOp::MaskedEqual && c.value_two & !c.value & bits != 0 {
        return Outcome::Fails; // the masked argument can never have bits the mask clears
    }
    match width {
        // Both sides are 32-bit numbers: a high word of 0 against the value's low half.
        Width::Bits32 => high_seen(
            arg,
            c.op,
            c.value & 0xffff_ffff,
            c.value_two & 0xffff_ffff,
            0,
        ),
        Width::Bits64 if c.op == ArgOp::MaskedEqual && c.value >> 32 == 0 => {
            low_masked(arg, c.value as u32, c.value_two as u32)
        }
        Width::Bits64 => Outcome::Open(Check::Whole {
            arg,
            op: c.op,
            value: c.value,
            value_two: c.value_two,
        }),
    }
}

/// A 64-bit condition once its argument's high word is known to be `high`.
fn high_seen(arg: u8, op: ArgOp, value: u64, value_two: u64, high: u32) -> Outcome {
    let (vh, vl) = ((value >> 32) as u32, value as u32);
    let low = |spans: Vec<(u32, u32)>| low_in(arg, spans);
    use std::cmp::Ordering::*;
    match op {
        ArgOp::MaskedEqual => {
            let (mask, datum) = ((value >> 32) as u32, (value_two >> 32) as u32);
            if high & mask == datum {
                low_masked(arg, value as u32, value_two as u32)
            } else {
                Outcome::Fails
            }
        }
        _ => match (high.cmp(&vh), op) {
            (Equal, ArgOp::Equal) => low(vec![(vl, vl)]),
            (_, ArgOp::Equal) => Outcome::Fails,
            (Equal, ArgOp::NotEqual) => {
                let mut spans = Vec::new();
                if vl > 0 {
                    spans.push((0, vl - 1));
                }
                if vl < u32::MAX {
                    spans.push((vl + 1, u32::MAX));
                }
                low(spans)
            }
            (_, ArgOp::NotEqual) => Outcome::Holds,
            (Greater, ArgOp::GreaterThan | ArgOp::GreaterOrEqual) => Outcome::Holds,
            (Less, ArgOp::GreaterThan | ArgOp::GreaterOrEqual) => Outcome::Fails,
            (Less, ArgOp::LessThan | ArgOp::LessOrEqual) => Outcome::Holds,
            (Greater, ArgOp::LessThan | ArgOp::LessOrEqual) => Outcome::Fails,
            (Equal, ArgOp::GreaterThan) => low(vl
                .checked_add(1)
                .map(|s| (s, u32::MAX))
                .into_iter()
                .collect()),
            (Equal, ArgOp::GreaterOrEqual) => low(vec![(vl, u32::MAX)]),
            (Equal, ArgOp::LessThan) => {
                low(vl.checked_sub(1).map(|e| (0, e)).into_iter().collect())
            }
            (Equal, ArgOp::LessOrEqual) => low(vec![(0, vl)]),
            (_, ArgOp::MaskedEqual) => unreachable!("handled above"),
        },
    }
}

fn low_in(arg: u8, spans: Vec<(u32, u32)>) -> Outcome {
    match spans.as_slice() {
        [] => Outcome::Fails,
        [(0, u32::MAX)] => Outcome::Holds,
        _ => Outcome::Open(Check::LowIn { arg, spans }),
    }
}

/// `(low & mask) == datum & mask`, the datum's other bits already known to be clear.
fn low_masked(arg: u8, mask: u32, datum: u32) -> Outcome {
    match mask {
        0 => Outcome::Holds,
        u32::MAX => low_in(arg, vec![(datum, datum)]),
        _ => Outcome::Open(Check::LowMasked {
            arg,
            mask,
            value: datum & mask,
        }),
    }
}

/// What is decided and what is still open at a point of the checks: the action of the best
/// rule that holds so far, and the rules that could still beat it with their open checks.
/// Sorted, so equal states are equal values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    best: Option<u32>,
    open: Vec<(u32, Vec<Check>)>,
}

impl State {
    /// The first state of a syscall.
    fn new<'a>(rules: impl Iterator<Item = &'a Rule>, width: Width) -> State {
        State::settle(
            None,
            rules.map(|rule| {
                (
                    rule.action,
                    open_checks(rule.conditions.iter().map(|c| start(c, width))),
                )
            }),
        )
    }

    /// Settles rules with nothing open, drops rules that failed (`None`) or can no longer win.
    fn settle(
        mut best: Option<u32>,
        rules: impl Iterator<Item = (u32, Option<Vec<Check>>)>,
    ) -> State {
        let mut open = Vec::new();
        for (action, checks) in rules {
            match checks {
                None => {}
                Some(checks) if checks.is_empty() => {
                    best =
                        Some(best.map_or(action, |b| if precedes(action, b) { action } else { b }));
                }
                Some(mut checks) => {
                    checks.sort();
                    checks.dedup();
                    open.push((action, checks));
                }
            }
        }
        open.retain(|&(action, _)| best.is_none_or(|b| precedes(action, b)));
        open.sort();
        open.dedup();
        State { best, open }
    }

    /// The state once `word` has value `value` (interval checks only on that word).
    fn at(&self, word: Word, value: u32) -> State {
        self.map(|check| {
            if check.word() == word {
                check.at(value)
            } else {
                Outcome::Open(check.clone())
            }
        })
    }

    /// The state once the masked check `split` came out `equal`.
    fn masked(&self, split: &Check, equal: bool) -> State {
        self.map(|check| {
            if check == split {
                check.masked_outcome(equal)
            } else {
                Outcome::Open(check.clone())
            }
        })
    }

    fn map(&self, f: impl Fn(&Check) -> Outcome) -> State {
        State::settle(
            self.best,
            self.open
                .iter()
                .map(|(action, checks)| (*action, open_checks(checks.iter().map(&f)))),
        )
    }
}

/// The checks still open of a rule, or `None` when one failed.
fn open_checks(outcomes: impl Iterator<Item = Outcome>) -> Option<Vec<Check>> {
    let mut open = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Holds => {}
            Outcome::Fails => return None,
            Outcome::Open(check) => open.push(check),
        }
    }
    Some(open)
}

/// A node of the decision graph; children are node indices.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Return(u32),
    /// `(word & mask) == value`.
    Masked {
        word: Word,
        mask: u32,
        value: u32,
        equal: usize,
        differ: usize,
    },
    /// The word's value decides: `(first value, child)`, from 0, sorted.
    Ranges {
        word: Word,
        ranges: Vec<(u32, usize)>,
    },
}

/// Where a syscall's decision is: a return decided without its arguments, or a node of the
/// graph that reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    Return(u32),
    Node(usize),
}

/// Every node is at least a load and a jump, so a graph with more nodes than this cannot fit
/// in the kernel's 4096 instructions: building stops there instead of growing on.
const MAX_NODES: usize = 2048;

/// The argument checks need more than the kernel's limit of instructions.
#[derive(Debug, PartialEq, Eq)]
pub struct TooComplex;

/// The argument checks of a whole filter, one default action for all.
pub struct ArgCode {
    default: u32,
    nodes: Vec<Node>,
    memo: HashMap<State, usize>,
    returns: HashMap<u32, usize>,
}

impl ArgCode {
    pub fn new(default: u32) -> ArgCode {
        ArgCode {
            default,
            nodes: Vec::new(),
            memo: HashMap::new(),
            returns: HashMap::new(),
        }
    }

    /// The checks deciding between `rules` (of one syscall) and the default.
    pub fn add<'a>(
        &mut self,
        rules: impl Iterator<Item = &'a Rule>,
        width: Width,
    ) -> Result<Entry, TooComplex> {
        let node = self.node(State::new(rules, width));
        if self.nodes.len() > MAX_NODES {
            return Err(TooComplex);
        }
        Ok(match self.nodes[node] {
            Node::Return(action) => Entry::Return(action),
            _ => Entry::Node(node),
        })
    }

    fn node(&mut self, state: State) -> usize {
        if let Some(&node) = self.memo.get(&state) {
            return node;
        }
        if self.nodes.len() > MAX_NODES {
            return self.push(Node::Return(self.default));
        }
        let node = self.build(&state);
        self.memo.insert(state, node);
        node
    }

    fn push(&mut self, node: Node) -> usize {
        if let Node::Return(action) = node {
            if let Some(&index) = self.returns.get(&action) {
                return index;
            }
            self.returns.insert(action, self.nodes.len());
        }
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn build(&mut self, state: &State) -> usize {
        let Some(word) = state
            .open
            .iter()
            .flat_map(|(_, checks)| checks.iter().map(Check::word))
            .min()
        else {
            return self.push(Node::Return(state.best.unwrap_or(self.default)));
        };
        let on_word = || {
            state
                .open
                .iter()
                .flat_map(|(_, checks)| checks.iter())
                .filter(move |check| check.word() == word)
        };
        // Masked comparisons first, one at a time; then the word's value against every
        // boundary left.
        if let Some(split) = on_word().find(|check| check.masked().is_some()).cloned() {
            let (mask, value) = split.masked().expect("found as masked");
            let equal = self.node(state.masked(&split, true));
            let differ = self.node(state.masked(&split, false));
            if equal == differ {
                return equal;
            }
            return self.push(Node::Masked {
                word,
                mask,
                value,
                equal,
                differ,
            });
        }
        let mut starts = vec![0];
        for check in on_word() {
            check.boundaries(&mut starts);
        }
        starts.sort_unstable();
        starts.dedup();
        let mut ranges: Vec<(u32, usize)> = Vec::new();
        for start in starts {
            let child = self.node(state.at(word, start));
            if ranges.last().is_none_or(|&(_, last)| last != child) {
                ranges.push((start, child));
            }
        }
        match ranges.as_slice() {
            [(_, only)] => *only,
            _ => self.push(Node::Ranges { word, ranges }),
        }
    }

    /// Emits the nodes reachable from `entries`, placing each entry's label where its node's
    /// code starts.
    pub fn emit(&self, asm: &mut Assembler, entries: &[(usize, Entry)]) {
        let labels: Vec<usize> = self.nodes.iter().map(|_| asm.new_label()).collect();
        let target = |node: usize| match self.nodes[node] {
            Node::Return(action) => JumpTo::Return(action),
            _ => JumpTo::Label(labels[node]),
        };
        let mut heads: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        let mut starts = Vec::new();
        for &(label, entry) in entries {
            match entry {
                Entry::Return(action) => {
                    asm.place(label);
                    asm.ret(action);
                }
                Entry::Node(node) => {
                    heads[node].push(label);
                    starts.push(node);
                }
            }
        }
        for node in self.order(&starts) {
            for &label in &heads[node] {
                asm.place(label);
            }
            asm.place(labels[node]);
            match &self.nodes[node] {
                Node::Return(_) => unreachable!("returns are jump targets, not code"),
                Node::Masked {
                    word,
                    mask,
                    value,
                    equal,
                    differ,
                } => {
                    asm.load_abs(word.offset());
                    asm.and(*mask);
                    asm.jump(BPF_JEQ, *value, target(*equal), target(*differ));
                }
                Node::Ranges { word, ranges } => {
                    asm.load_abs(word.offset());
                    let ranges: Vec<(u32, JumpTo)> = ranges
                        .iter()
                        .map(|&(start, child)| (start, target(child)))
                        .collect();
                    search::emit(
                        asm,
                        &ranges,
                        Shape {
                            long_value_chains: true,
                        },
                    );
                }
            }
        }
    }

    /// The nodes reachable from `starts` that are code (not returns), each before every node
    /// it jumps to (reverse post-order of a depth-first walk).
    fn order(&self, starts: &[usize]) -> Vec<usize> {
        let children = |node: usize| -> Vec<usize> {
            match &self.nodes[node] {
                Node::Return(_) => Vec::new(),
                Node::Masked { equal, differ, .. } => vec![*differ, *equal],
                Node::Ranges { ranges, .. } => ranges.iter().rev().map(|&(_, c)| c).collect(),
            }
        };
        let mut done = vec![false; self.nodes.len()];
        let mut post = Vec::new();
        let mut stack: Vec<(usize, bool)> = starts.iter().rev().map(|&n| (n, false)).collect();
        while let Some((node, expanded)) = stack.pop() {
            if expanded {
                post.push(node);
                continue;
            }
            if done[node] || matches!(self.nodes[node], Node::Return(_)) {
                continue;
            }
            done[node] = true;
            stack.push((node, true));
            for child in children(node) {
                if !done[child] {
                    stack.push((child, false));
                }
            }
        }
        post.reverse();
        post
    }
}
