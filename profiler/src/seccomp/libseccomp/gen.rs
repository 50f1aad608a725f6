//! libseccomp 2.5.4's code generator (gen_bpf.c) for the argument trees of [`tree`]: the
//! instruction blocks of every node, with the accumulator state libseccomp assumes on entry
//! and exit, and where it reloads. Its filter sometimes compares another word than the node's
//! own (a skipped reload); this model decides exactly as it does, so `profile check` can say
//! where runc and friends enforce a profile differently from its meaning.
use std::collections::HashMap;

use super::tree::{ArgTree, Cmp, Id, Link};
use crate::seccomp::bpf::{Assembler, JumpTo, BPF_JEQ, BPF_JGE, BPF_JGT};

/// What libseccomp's generator assumes the accumulator holds (`struct acc_state`): a word of
/// `seccomp_data` (its offset) ANDed with a mask; `None` for undefined.
type Acc = Option<(u32, u32)>;

/// Where an edge goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Jump {
    Block(usize),
    Return(u32),
}

/// Where the code of one syscall's argument tree starts (see [`Code::add`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry(Jump);

/// One of libseccomp's instruction blocks for one node: `[ld] [and] j<op> datum, on_true,
/// on_false`, with the accumulator states the generator assumed on entry and on exit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Block {
    load: Option<u32>,
    and: Option<u32>,
    op: u16,
    datum: u32,
    on_true: Jump,
    on_false: Jump,
    /// `None` when the block loads its word itself.
    acc_start: Acc,
    acc_end: (u32, u32),
}

/// The argument checks of a whole filter, as libseccomp 2.5.4's code generator builds them
/// (gen_bpf.c `_gen_bpf_chain`, `_gen_bpf_node`, `_gen_bpf_build_bpf`), so that every input
/// meets the same comparisons on the same accumulator as in libseccomp's filter. Equal blocks
/// are one block across all syscalls and architectures, as in libseccomp's block hash table,
/// because where libseccomp places a shared block decides whether it reloads the accumulator.
/// Only the layout of the emitted program is ours.
#[derive(Default)]
pub struct Code {
    blocks: Vec<Block>,
    index: HashMap<Block, usize>,
    placed: Vec<bool>,
    reload: Vec<bool>,
}

impl Code {
    /// Generates the blocks of `tree`, whose checks fall back to `default`.
    pub fn add(&mut self, tree: &ArgTree, default: u32) -> Entry {
        Entry(match tree.root {
            Some(root) => self.chain(tree, root, Jump::Return(default), None),
            None => Jump::Return(default),
        })
    }

    /// The blocks of the level holding `node` (`_gen_bpf_chain`); returns where the level
    /// starts. `next`: where the level continues when it runs out; `acc`: what the generator
    /// assumes the accumulator holds on entry.
    ///
    /// libseccomp threads its accumulator state through a level in node order: each node
    /// starts from the state the previous node's own comparison left, although the previous
    /// node's sub-levels run before the level continues and may have loaded another word.
    /// That is how its filter can compare a word other than the node's own; we keep it.
    fn chain(&mut self, tree: &ArgTree, node: Id, next: Jump, mut acc: Acc) -> Jump {
        // (node, load, and, acc_start, acc_end), as `_gen_bpf_node` builds them.
        let mut level = Vec::new();
        let mut cur = Some(tree.level_start(node));
        while let Some(i) = cur {
            let n = &tree.nodes[i];
            let (offset, mask) = (n.offset(), n.mask);
            let start = acc.filter(|&(o, m)| o == offset && mask & m == mask);
            let mut end = start.unwrap_or((offset, u32::MAX));
            let and = (end.1 != mask).then_some(mask);
            end.1 = mask;
            level.push((i, start.is_none().then_some(offset), and, start, end));
            acc = Some(end);
            cur = n.next;
        }
        // Resolved from the last node back, each node's "nothing matched" going to the next.
        let mut next = next;
        for (i, load, and, acc_start, acc_end) in level.into_iter().rev() {
            let n = &tree.nodes[i];
            let mut edge = |sub: Link, action: Option<u32>| match (sub, action) {
                (Some(s), _) => self.chain(tree, s, next, Some(acc_end)),
                (None, Some(a)) => Jump::Return(a),
                (None, None) => next,
            };
            let [on_true, on_false] = n.edges.map(|e| edge(e.sub, e.set.then_some(e.action)));
            let op = match n.cmp {
                Cmp::Eq | Cmp::MaskedEq => BPF_JEQ,
                Cmp::Gt => BPF_JGT,
                Cmp::Ge => BPF_JGE,
            };
            let block = Block {
                load,
                and,
                op,
                datum: n.datum,
                on_true,
                on_false,
                acc_start,
                acc_end,
            };
            let b = match self.index.get(&block) {
                Some(&b) => b,
                None => {
                    self.blocks.push(block.clone());
                    self.placed.push(false);
                    self.reload.push(false);
                    self.index.insert(block, self.blocks.len() - 1);
                    self.blocks.len() - 1
                }
            };
            next = Jump::Block(b);
        }
        next
    }

    /// Places the blocks of `entry` as libseccomp's assembler does. Call it for every entry,
    /// in the order libseccomp reaches the syscalls: the assembler walks its list of syscall
    /// checks from the last one back and pulls in the blocks each one jumps to, depth first,
    /// true edge first, each right after the first block found jumping to it. A block that
    /// relies on the accumulator gets a reload of the word it was generated for only when the
    /// block it is placed after ends with a different state; every other block jumping there
    /// arrives with whatever it holds.
    pub fn place(&mut self, entry: Entry) {
        let Jump::Block(start) = entry.0 else { return };
        if self.placed[start] {
            return;
        }
        // The syscall check before a tree's first block holds the syscall number; that
        // block loads its word itself.
        self.placed[start] = true;
        let mut stack = vec![(start, 0)];
        while let Some((b, edge)) = stack.pop() {
            let block = &self.blocks[b];
            let Some(&jump) = [block.on_true, block.on_false].get(edge) else {
                continue;
            };
            stack.push((b, edge + 1));
            if let Jump::Block(t) = jump {
                if !self.placed[t] {
                    self.placed[t] = true;
                    let end = block.acc_end;
                    self.reload[t] = self.blocks[t].acc_start.is_some_and(|s| s != end);
                    stack.push((t, 0));
                }
            }
        }
    }

    /// Emits the blocks of all `entries` once, each entry's label placed where its code
    /// starts. Every path ends in a return. Call after [`Code::place`] for every entry.
    pub fn emit(&self, asm: &mut Assembler, entries: &[(usize, Entry)]) {
        let labels: Vec<usize> = self.blocks.iter().map(|_| asm.new_label()).collect();
        let mut returns: Vec<(u32, usize)> = Vec::new();
        let mut ret_label =
            |asm: &mut Assembler, action: u32| match returns.iter().find(|(a, _)| *a == action) {
                Some(&(_, l)) => l,
                None => {
                    let l = asm.new_label();
                    returns.push((action, l));
                    l
                }
            };
        // A tree's first block is placed where its label is; any other entry jumps.
        let mut heads: Vec<Vec<usize>> = vec![Vec::new(); self.blocks.len()];
        for &(label, Entry(jump)) in entries {
            match jump {
                Jump::Block(b) => heads[b].push(label),
                Jump::Return(action) => {
                    asm.place(label);
                    let l = ret_label(asm, action);
                    asm.goto(JumpTo::Label(l));
                }
            }
        }
        let starts: Vec<usize> = entries
            .iter()
            .filter_map(|(_, Entry(jump))| match *jump {
                Jump::Block(b) => Some(b),
                Jump::Return(_) => None,
            })
            .collect();
        for b in self.order(&starts) {
            let block = &self.blocks[b];
            for &label in &heads[b] {
                asm.place(label);
            }
            asm.place(labels[b]);
            if let (true, Some((offset, mask))) = (self.reload[b], block.acc_start) {
                asm.load_abs(offset);
                if mask != u32::MAX {
                    asm.and(mask);
                }
            }
            if let Some(offset) = block.load {
                asm.load_abs(offset);
            }
            if let Some(mask) = block.and {
                asm.and(mask);
            }
            let mut target = |jump: Jump| match jump {
                Jump::Block(t) => JumpTo::Label(labels[t]),
                Jump::Return(action) => JumpTo::Label(ret_label(asm, action)),
            };
            let (jt, jf) = (target(block.on_true), target(block.on_false));
            asm.jump(block.op, block.datum, jt, jf);
        }
        returns.sort();
        for (action, label) in returns {
            asm.place(label);
            asm.ret(action);
        }
    }

    /// The blocks reachable from `starts`, each before every block it jumps to (reverse
    /// post-order of a depth-first walk; the blocks form a DAG). A block's false edge is walked
    /// last, so that it tends to be the next block and the jump disappears.
    fn order(&self, starts: &[usize]) -> Vec<usize> {
        let mut done = vec![false; self.blocks.len()];
        let mut post = Vec::new();
        // (block, whether its successors were pushed)
        let mut stack: Vec<(usize, bool)> = starts.iter().rev().map(|&b| (b, false)).collect();
        while let Some((b, expanded)) = stack.pop() {
            if expanded {
                post.push(b);
                continue;
            }
            if done[b] {
                continue;
            }
            done[b] = true;
            stack.push((b, true));
            for jump in [self.blocks[b].on_false, self.blocks[b].on_true] {
                if let Jump::Block(t) = jump {
                    if !done[t] {
                        stack.push((t, false));
                    }
                }
            }
        }
        post.reverse();
        post
    }
}
