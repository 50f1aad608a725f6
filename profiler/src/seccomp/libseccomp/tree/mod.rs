//! libseccomp's argument tree of one syscall (db.c), as a model of what runc, crun and podman
//! enforce: the same merges, the same refusals, the same decisions, faults included.
//!
//! libseccomp turns every rule into a chain of 32-bit comparison nodes and merges the chains of
//! one syscall into a tree (db.c `db_rule_add`: prune, then add). The merge is not a plain
//! "first matching rule wins": nodes on a level are kept sorted (higher argument first, the high
//! word before the low one, EQ-like before LT/LE before GT/GE, larger datum first), equal nodes
//! are shared, a shorter chain can swallow a longer one, an equal path with a different action is
//! an error (-EEXIST), and sub-trees are shared by reference so that later merges through one
//! parent are seen through the others. The tree is walked depth first with backtracking
//! (gen_bpf.c `_gen_bpf_chain`): a node's edge leads to a sub-level, else to an action, else on
//! to the next node of the level; a level that runs out continues after the node that led into
//! it, and the end of the top level gives the default action.
//!
//! To make the same decisions in every case, including the odd ones, this module keeps
//! libseccomp's data model: an arena of nodes linked into levels and sub-levels, with reference
//! counts, because the counts decide when nodes are freed (and so unlinked), and the number of
//! freed nodes steers `db_rule_add`. Only the representation is ours. The checks are emitted as
//! libseccomp's code generator builds them ([`Code`]), because its accumulator bookkeeping
//! sometimes compares another word than the node's and so decides otherwise than the tree.
mod chain;
mod merge;

use std::cell::Cell;

pub use crate::seccomp::error::TreeError;
use crate::{profile::ArgOp, seccomp::expand::Rule};

/// What the filter does with one syscall.
#[derive(Clone, Debug)]
pub enum Syscall {
    /// Decided without looking at the arguments.
    Return(u32),
    /// Depends on the arguments.
    Tree(ArgTree),
}

pub(super) type Id = usize;
pub(super) type Link = Option<Id>;

/// The comparison a node performs on its (masked) 32-bit word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cmp {
    Eq,
    MaskedEq,
    Gt,
    Ge,
}

/// Which edge of a node: the comparison held, or it did not.
pub(super) const T: usize = 0;
pub(super) const F: usize = 1;

/// Where one edge of a node leads (db.h's `act_t`/`act_t_flg`/`nxt_t` and their `_f` twins).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Edge {
    /// The action. As in libseccomp, the value can be set while the flag is not, and
    /// comparisons look at the value alone.
    pub(super) action: u32,
    pub(super) set: bool,
    /// The sub-level.
    pub(super) sub: Link,
}

/// One 32-bit comparison (db.h `struct db_arg_chain_tree`).
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) arg: u32,
    /// Compares the high word of the argument.
    pub(super) high: bool,
    pub(super) cmp: Cmp,
    /// The rule's operator, which orders nodes on a level.
    pub(super) op: ArgOp,
    pub(super) mask: u32,
    /// Already masked.
    pub(super) datum: u32,
    /// The rule's whole 64-bit datum (not masked).
    pub(super) datum_full: u64,
    /// The true and false edges, `edges[T]` and `edges[F]`.
    pub(super) edges: [Edge; 2],
    /// Neighbours on this level.
    pub(super) prev: Link,
    pub(super) next: Link,
    pub(super) refs: u32,
    pub(super) freed: bool,
}

impl Node {
    fn new(
        arg: u32,
        high: bool,
        cmp: Cmp,
        op: ArgOp,
        mask: u32,
        datum: u32,
        datum_full: u64,
    ) -> Node {
        Node {
            arg,
            high,
            cmp,
            op,
            mask,
            datum: datum & mask,
            datum_full,
            edges: [Edge::default(); 2],
            prev: None,
            next: None,
            refs: 0,
            freed: false,
        }
    }

    /// Position of the compared word among all words (`__db_chain_arg_priority`).
    fn word_rank(&self) -> u32 {
        (self.arg << 1) + u32::from(self.high)
    }

    fn op_rank(&self) -> u32 {
        match self.op {
            ArgOp::MaskedEqual | ArgOp::Equal | ArgOp::NotEqual => 3,
            ArgOp::LessOrEqual | ArgOp::LessThan => 2,
            ArgOp::GreaterOrEqual | ArgOp::GreaterThan => 1,
        }
    }

    fn is_leaf(&self) -> bool {
        self.edges.iter().all(|e| e.sub.is_none())
    }

    /// A leaf without actions.
    fn is_zombie(&self) -> bool {
        self.is_leaf() && self.edges.iter().all(|e| !e.set)
    }

    /// Byte offset of the compared word in `struct seccomp_data` (little endian).
    pub(super) fn offset(&self) -> u32 {
        16 + 8 * self.arg + if self.high { 4 } else { 0 }
    }
}

/// `_db_iter_state` flags of the prune walk.
mod ist {
    pub const MATCH: u32 = 0x01;
    pub const MATCH_ONCE: u32 = 0x02;
    pub const X_FINISHED: u32 = 0x10;
    pub const N_FINISHED: u32 = 0x20;
    pub const X_PREFIX: u32 = 0x100;
    pub const N_PREFIX: u32 = 0x200;
    pub const MATCHSET: u32 = MATCH | MATCH_ONCE;
    pub const REDUNDANT: u32 = MATCH | X_FINISHED | N_PREFIX;
}

#[derive(Clone, Copy)]
struct PruneState {
    flags: u32,
    action: u32,
}

/// Where a link is stored, for the operations that rewrite the link they were reached through.
#[derive(Clone, Copy)]
enum Slot {
    Root,
    /// The sub-level on edge `T` or `F` of a node.
    Sub(usize, Id),
}

/// An argument decision tree.
#[derive(Clone, Debug, Default)]
pub struct ArgTree {
    pub(super) nodes: Vec<Node>,
    pub(super) root: Link,
    /// Steps taken by the merge: libseccomp loops forever on some inputs (its levels end up
    /// circular), so the port gives up after `MAX_STEPS`.
    steps: Cell<u64>,
    /// libseccomp's node count and priority for the syscall (`db_sys_list`), which order the
    /// syscalls when it assembles its program.
    node_cnt: u32,
    priority: u32,
    release: Release,
}

/// `_DB_PRI_MASK_CHAIN`: the part of a syscall's priority that its node count sets.
const PRI_MASK_CHAIN: u32 = 0xffff;

/// Far more than any terminating merge of a few hundred rules needs.
const MAX_STEPS: u64 = 50_000_000;

/// The chains of one new rule before merging (a `db_sys_list` from `_db_rule_gen_*`).
struct NewChain {
    root: Link,
    action: u32,
    /// How many nodes it has (`db_sys_list.node_cnt`).
    nodes: u32,
}

/// The libseccomp releases whose trees differ in a way the model follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Release {
    /// Before 2.6.1 (Debian 12 ships 2.5.4): when two rules compare the same high word with
    /// different actions on the false edge, `_db_tree_add` overwrites the true edge's action
    /// (GHSA-4q85-33p6-j5g6).
    #[default]
    Before2_6_1,
    /// 2.6.1 and later, with that fixed.
    From2_6_1,
}

/// Adds `rules` in order as libseccomp's `db_rule_add` would. `wide`: a 64-bit architecture
/// (x86_64, aarch64); false for x86 and x32, where libseccomp compares only the low 32 bits.
pub fn build(rules: &[Rule], wide: bool, release: Release) -> Result<Syscall, TreeError> {
    let mut tree = ArgTree {
        release,
        ..ArgTree::default()
    };
    // None until the first rule: then the syscall's action when it has no chains.
    let mut action: Option<u32> = None;
    for (index, rule) in rules.iter().enumerate() {
        let mut conditions = rule.conditions.clone();
        for (i, c) in conditions.iter().enumerate() {
            if c.index > 5 {
                return Err(TreeError::ArgIndex {
                    rule: index,
                    index: c.index,
                });
            }
            if conditions[..i].iter().any(|d| d.index == c.index) {
                return Err(TreeError::SameArgument {
                    rule: index,
                    index: c.index,
                });
            }
        }
        conditions.sort_by_key(|c| c.index);
        let allocated = tree.nodes.len();
        let mut new = if wide {
            tree.chain_64(&conditions, rule.action)
        } else {
            tree.chain_32(&conditions, rule.action)
        };
        new.nodes = (tree.nodes.len() - allocated) as u32;
        match action {
            None => {
                tree.root = new.root;
                action = Some(new.action);
                tree.node_cnt = new.nodes;
                tree.priority = PRI_MASK_CHAIN.wrapping_sub(new.nodes);
            }
            Some(ref mut current) => {
                let added = tree.add(new, rule.action, current);
                if tree.stuck() || !tree.well_formed() {
                    return Err(TreeError::Hang { rule: index });
                }
                added.map_err(|()| TreeError::Conflict { rule: index })?;
                tree.priority =
                    (tree.priority & !PRI_MASK_CHAIN) | PRI_MASK_CHAIN.wrapping_sub(tree.node_cnt);
            }
        }
    }
    debug_assert!(tree.live_reachable());
    match (tree.root, action) {
        (None, Some(action)) => Ok(Syscall::Return(action)),
        // No rules: a tree that always gives the default.
        _ => Ok(Syscall::Tree(tree)),
    }
}

impl ArgTree {
    // ---- reference counting (db.c _db_node_get/_db_node_put/_db_level_clean/_db_tree_put) ----

    fn alloc(&mut self, node: Node) -> Id {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn get(&mut self, link: Link) -> Link {
        if let Some(n) = link {
            self.nodes[n].refs += 1;
        }
        link
    }

    /// Drops a reference. When it was the last one, the node leaves its level (`link` then
    /// points at a former neighbour) and its sub-levels are released. Returns how many nodes
    /// were freed.
    fn put(&mut self, link: &mut Link) -> u32 {
        let Some(n) = *link else { return 0 };
        if self.burn() {
            return 0;
        }
        let node = &mut self.nodes[n];
        node.refs = node.refs.wrapping_sub(1);
        if node.refs != 0 {
            return 0;
        }
        let (mut prev, mut next, mut sub_t, mut sub_f) =
            (node.prev, node.next, node.edges[T].sub, node.edges[F].sub);
        let mut freed = 0;
        if let Some(p) = prev {
            self.nodes[p].next = None;
        }
        if let Some(q) = next {
            self.nodes[q].prev = None;
        }
        freed += self.put(&mut prev);
        freed += self.put(&mut next);
        if let Some(p) = prev {
            self.nodes[p].next = self.get(next);
        }
        if let Some(q) = next {
            self.nodes[q].prev = self.get(prev);
        }
        *link = prev.or(next);
        freed += self.put_tree(&mut sub_t);
        freed += self.put_tree(&mut sub_f);
        self.nodes[n].freed = true;
        freed + 1
    }

    /// Drops a reference to a level's head, then frees the whole level if nothing outside it
    /// refers to it any more.
    fn put_tree(&mut self, link: &mut Link) -> u32 {
        let mut freed = self.put(link);
        if let Some(n) = *link {
            freed += self.clean_level(n);
        }
        freed
    }

    fn clean_level(&mut self, node: Id) -> u32 {
        let start = self.level_start(node);
        let mut n = Some(start);
        while let Some(i) = n {
            if self.burn() {
                return 0;
            }
            let links =
                u32::from(self.nodes[i].prev.is_some()) + u32::from(self.nodes[i].next.is_some());
            if self.nodes[i].refs > links {
                return 0;
            }
            n = self.nodes[i].next;
        }
        let mut freed = 0;
        let mut n = Some(start);
        while n.is_some() && !self.stuck() {
            freed += self.put(&mut n);
        }
        freed
    }

    pub(super) fn level_start(&self, mut n: Id) -> Id {
        while let Some(p) = self.nodes[n].prev {
            if self.burn() {
                break;
            }
            n = p;
        }
        n
    }

    /// Takes a step; true once the budget is spent (then every walk stops early).
    fn burn(&self) -> bool {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        steps > MAX_STEPS
    }

    fn stuck(&self) -> bool {
        self.steps.get() > MAX_STEPS
    }

    fn read(&self, slot: Slot) -> Link {
        match slot {
            Slot::Root => self.root,
            Slot::Sub(side, n) => self.nodes[n].edges[side].sub,
        }
    }

    fn write(&mut self, slot: Slot, link: Link) {
        match slot {
            Slot::Root => self.root = link,
            Slot::Sub(side, n) => self.nodes[n].edges[side].sub = link,
        }
    }

    /// No freed node is reachable from the root.
    fn live_reachable(&self) -> bool {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<Id> = self.root.into_iter().collect();
        while let Some(n) = stack.pop() {
            let n = self.level_start(n);
            let mut cur = Some(n);
            while let Some(i) = cur {
                if seen[i] {
                    break;
                }
                seen[i] = true;
                if self.nodes[i].freed {
                    return false;
                }
                stack.extend(self.nodes[i].edges.iter().filter_map(|e| e.sub));
                cur = self.nodes[i].next;
            }
        }
        true
    }

    /// libseccomp's priority for the syscall: its assembler pulls the argument blocks of
    /// lower-priority syscalls in first.
    pub fn priority(&self) -> u32 {
        self.priority
    }

    /// Whether the tree is finite: no level runs in a circle, and no path leads back to a
    /// level it came from (libseccomp would not finish with such a tree).
    fn well_formed(&self) -> bool {
        // 0: unseen, 1: on the path, 2: done; indexed by level start.
        let mut state = vec![0u8; self.nodes.len()];
        let Some(root) = self.root else { return true };
        self.well_formed_level(root, &mut state)
    }

    fn well_formed_level(&self, node: Id, state: &mut Vec<u8>) -> bool {
        // Find the start without trusting the links to end.
        let mut start = node;
        for _ in 0..=self.nodes.len() {
            match self.nodes[start].prev {
                Some(p) => start = p,
                None => break,
            }
        }
        if self.nodes[start].prev.is_some() {
            return false;
        }
        match state[start] {
            1 => return false,
            2 => return true,
            _ => {}
        }
        state[start] = 1;
        let mut cur = Some(start);
        let mut steps = 0;
        while let Some(i) = cur {
            steps += 1;
            if steps > self.nodes.len() || self.nodes[i].freed {
                return false;
            }
            for sub in self.nodes[i].edges.iter().filter_map(|e| e.sub) {
                if !self.well_formed_level(sub, state) {
                    return false;
                }
            }
            cur = self.nodes[i].next;
        }
        state[start] = 2;
        true
    }
}

#[cfg(test)]
mod tests;
