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
use std::cell::Cell;

use crate::profile::{ArgCondition, ArgOp};

/// One rule of one syscall after runc's processing: all `conditions` must hold (at most one per
/// argument index; runc splits the others into separate rules), `action` is the `SECCOMP_RET_*`
/// value. For MASKED_EQ, `value` is the mask and `value_two` the datum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub conditions: Vec<ArgCondition>,
    pub action: u32,
}

/// What the filter does with one syscall.
#[derive(Clone, Debug)]
pub enum Syscall {
    /// Decided without looking at the arguments.
    Return(u32),
    /// Depends on the arguments.
    Tree(ArgTree),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    /// libseccomp's -EEXIST: the rule reaches a comparison that already leads to another action.
    #[error("rule {rule} conflicts with an earlier rule of the same syscall: the same conditions lead to a different action (libseccomp: EEXIST)")]
    Conflict { rule: usize },
    /// libseccomp's -EINVAL: two conditions on one argument in one rule.
    #[error("rule {rule} has two conditions on argument {index} (libseccomp: EINVAL)")]
    SameArgument { rule: usize, index: u32 },
    /// libseccomp never returns from adding this rule (it loops forever; runc would hang).
    #[error("rule {rule} makes libseccomp loop forever (its argument tree becomes circular)")]
    Hang { rule: usize },
    #[error("rule {rule}: argument index {index} is out of range (0–5)")]
    ArgIndex { rule: usize, index: u32 },
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
    /// Actions on the true and false edges. As in libseccomp, the value can be set while the
    /// flag is not, and comparisons look at the value alone.
    pub(super) act_t: u32,
    pub(super) act_t_set: bool,
    pub(super) act_f: u32,
    pub(super) act_f_set: bool,
    /// Neighbours on this level.
    pub(super) prev: Link,
    pub(super) next: Link,
    /// Sub-levels on the true and false edges.
    pub(super) sub_t: Link,
    pub(super) sub_f: Link,
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
            act_t: 0,
            act_t_set: false,
            act_f: 0,
            act_f_set: false,
            prev: None,
            next: None,
            sub_t: None,
            sub_f: None,
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
        self.sub_t.is_none() && self.sub_f.is_none()
    }

    /// A leaf without actions.
    fn is_zombie(&self) -> bool {
        self.is_leaf() && !self.act_t_set && !self.act_f_set
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
    SubT(Id),
    SubF(Id),
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
            (node.prev, node.next, node.sub_t, node.sub_f);
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
            Slot::SubT(n) => self.nodes[n].sub_t,
            Slot::SubF(n) => self.nodes[n].sub_f,
        }
    }

    fn write(&mut self, slot: Slot, link: Link) {
        match slot {
            Slot::Root => self.root = link,
            Slot::SubT(n) => self.nodes[n].sub_t = link,
            Slot::SubF(n) => self.nodes[n].sub_f = link,
        }
    }

    // ---- chains of one rule (db.c _db_rule_gen_64, _db_rule_gen_32) ----

    /// 64-bit architectures: every condition compares both words; GT/GE/LT/LE use three nodes
    /// (high word greater, high word equal, low word), EQ/NE/MASKED_EQ two.
    fn chain_64(&mut self, conditions: &[ArgCondition], action: u32) -> NewChain {
        let mut root = None;
        // The previous condition's nodes and operator.
        let mut prev: Option<([Id; 2], Link, ArgOp)> = None;
        for c in conditions {
            let (mask, datum) = match c.op {
                ArgOp::MaskedEqual => (c.value, c.value_two),
                _ => (u64::MAX, c.value),
            };
            if c.op == ArgOp::MaskedEqual && mask == 0 {
                continue; // always true
            }
            let (mask_hi, mask_lo, datum_hi, datum_lo) = (
                (mask >> 32) as u32,
                mask as u32,
                (datum >> 32) as u32,
                datum as u32,
            );
            let (n0, n1, n2);
            match c.op {
                ArgOp::GreaterThan
                | ArgOp::GreaterOrEqual
                | ArgOp::LessThan
                | ArgOp::LessOrEqual => {
                    let low = if matches!(c.op, ArgOp::GreaterThan | ArgOp::LessOrEqual) {
                        Cmp::Gt
                    } else {
                        Cmp::Ge
                    };
                    n0 = self.alloc(Node::new(
                        c.index,
                        true,
                        Cmp::Gt,
                        c.op,
                        mask_hi,
                        datum_hi,
                        datum,
                    ));
                    n1 = self.alloc(Node::new(
                        c.index,
                        true,
                        Cmp::Eq,
                        c.op,
                        mask_hi,
                        datum_hi,
                        datum,
                    ));
                    let l = self.alloc(Node::new(
                        c.index, false, low, c.op, mask_lo, datum_lo, datum,
                    ));
                    n2 = Some(l);
                    self.nodes[n0].sub_f = self.get(Some(n1));
                    self.nodes[n1].sub_t = self.get(n2);
                }
                ArgOp::Equal | ArgOp::NotEqual | ArgOp::MaskedEqual => {
                    let cmp = if c.op == ArgOp::MaskedEqual {
                        Cmp::MaskedEq
                    } else {
                        Cmp::Eq
                    };
                    n0 = self.alloc(Node::new(
                        c.index, true, cmp, c.op, mask_hi, datum_hi, datum,
                    ));
                    n1 = self.alloc(Node::new(
                        c.index, false, cmp, c.op, mask_lo, datum_lo, datum,
                    ));
                    n2 = None;
                    self.nodes[n0].sub_t = self.get(Some(n1));
                }
            }
            match prev {
                None => root = self.get(Some(n0)),
                Some(([p0, p1], p2, op)) => match op {
                    ArgOp::GreaterThan | ArgOp::GreaterOrEqual => {
                        self.nodes[p0].sub_t = self.get(Some(n0));
                        self.nodes[p2.unwrap()].sub_t = self.get(Some(n0));
                    }
                    ArgOp::Equal | ArgOp::MaskedEqual => self.nodes[p1].sub_t = self.get(Some(n0)),
                    ArgOp::LessThan | ArgOp::LessOrEqual => {
                        self.nodes[p1].sub_f = self.get(Some(n0));
                        self.nodes[p2.unwrap()].sub_f = self.get(Some(n0));
                    }
                    ArgOp::NotEqual => {
                        self.nodes[p0].sub_f = self.get(Some(n0));
                        self.nodes[p1].sub_f = self.get(Some(n0));
                    }
                },
            }
            prev = Some(([n0, n1], n2, c.op));
        }
        let Some(([p0, p1], p2, op)) = prev else {
            return NewChain {
                root: None,
                action,
                nodes: 0,
            };
        };
        let mut set_t = |n: Id| {
            self.nodes[n].act_t = action;
            self.nodes[n].act_t_set = true;
        };
        match op {
            ArgOp::GreaterThan | ArgOp::GreaterOrEqual => {
                set_t(p0);
                set_t(p2.unwrap());
            }
            ArgOp::Equal | ArgOp::MaskedEqual => set_t(p1),
            ArgOp::LessThan | ArgOp::LessOrEqual | ArgOp::NotEqual => {
                let (a, b) = if op == ArgOp::NotEqual {
                    (p0, p1)
                } else {
                    (p1, p2.unwrap())
                };
                for n in [a, b] {
                    self.nodes[n].act_f = action;
                    self.nodes[n].act_f_set = true;
                }
            }
        }
        NewChain {
            root,
            action: 0,
            nodes: 0,
        }
    }

    /// 32-bit architectures: one node per condition on the low word, NE/LT/LE as EQ/GE/GT with
    /// the rest of the chain on the false edge.
    fn chain_32(&mut self, conditions: &[ArgCondition], action: u32) -> NewChain {
        let mut root = None;
        let mut prev: Option<(Id, bool)> = None;
        for c in conditions {
            let (mask, datum) = match c.op {
                ArgOp::MaskedEqual => (c.value as u32, c.value_two),
                _ => (u32::MAX, c.value),
            };
            if c.op == ArgOp::MaskedEqual && mask == 0 {
                continue;
            }
            let (cmp, on_true) = match c.op {
                ArgOp::Equal => (Cmp::Eq, true),
                ArgOp::MaskedEqual => (Cmp::MaskedEq, true),
                ArgOp::GreaterThan => (Cmp::Gt, true),
                ArgOp::GreaterOrEqual => (Cmp::Ge, true),
                ArgOp::NotEqual => (Cmp::Eq, false),
                ArgOp::LessThan => (Cmp::Ge, false),
                ArgOp::LessOrEqual => (Cmp::Gt, false),
            };
            let n = self.alloc(Node::new(
                c.index,
                false,
                cmp,
                c.op,
                mask,
                datum as u32,
                datum,
            ));
            match prev {
                None => root = self.get(Some(n)),
                Some((p, true)) => self.nodes[p].sub_t = self.get(Some(n)),
                Some((p, false)) => self.nodes[p].sub_f = self.get(Some(n)),
            }
            prev = Some((n, on_true));
        }
        match prev {
            None => NewChain {
                root: None,
                action,
                nodes: 0,
            },
            Some((n, true)) => {
                self.nodes[n].act_t = action;
                self.nodes[n].act_t_set = true;
                NewChain {
                    root,
                    action: 0,
                    nodes: 0,
                }
            }
            Some((n, false)) => {
                self.nodes[n].act_f = action;
                self.nodes[n].act_f_set = true;
                NewChain {
                    root,
                    action: 0,
                    nodes: 0,
                }
            }
        }
    }

    // ---- merging (db.c db_rule_add, _db_tree_prune, _db_tree_add) ----

    /// Merges a new rule into a syscall that already has one. `action` is the syscall's action
    /// when it has no chains.
    fn add(&mut self, new: NewChain, rule_action: u32, action: &mut u32) -> Result<(), ()> {
        let mut pruned = false;
        loop {
            if self.root.is_none() {
                if pruned {
                    // The new rule replaced everything there was.
                    self.root = new.root;
                    *action = new.action;
                    self.node_cnt = new.nodes;
                } else {
                    // Unconditional already: the new rule changes nothing.
                    self.put_tree(&mut { new.root });
                }
                return Ok(());
            }
            if new.root.is_none() {
                // An unconditional rule replaces the chains.
                let mut old = self.root.take();
                self.put_tree(&mut old);
                *action = rule_action;
                self.node_cnt = 0;
                return Ok(());
            }
            let mut state = PruneState {
                flags: 0,
                action: rule_action,
            };
            let freed = self.prune(self.root, new.root, &mut state);
            if freed > 0 {
                pruned = true;
                self.node_cnt = self.node_cnt.wrapping_sub(freed);
                if self.root.is_none() {
                    continue;
                }
            } else if state.flags & ist::REDUNDANT == ist::REDUNDANT {
                // The existing tree is shorter: drop the new rule.
                self.put_tree(&mut { new.root });
                return Ok(());
            }
            break;
        }
        let new_root = new.root.expect("checked above");
        self.merge(Slot::Root, new_root)?;
        self.node_cnt = self.node_cnt.wrapping_add(new.nodes);
        let freed = self.put_tree(&mut { new.root });
        self.node_cnt = self.node_cnt.wrapping_sub(freed);
        Ok(())
    }

    /// Checks that every action on `link`'s level and below is `action`.
    fn actions_are(&self, link: Link, action: u32) -> bool {
        let Some(n) = link else { return true };
        let mut n = Some(self.level_start(n));
        while let Some(i) = n {
            if self.burn() {
                return false;
            }
            let node = &self.nodes[i];
            if (node.act_t_set && node.act_t != action) || (node.act_f_set && node.act_f != action)
            {
                return false;
            }
            if !self.actions_are(node.sub_t, action) || !self.actions_are(node.sub_f, action) {
                return false;
            }
            n = node.next;
        }
        true
    }

    /// Same word, comparison, datum and mask (`_db_chain_eq`).
    fn same(&self, a: Id, b: Id) -> bool {
        let (a, b) = (&self.nodes[a], &self.nodes[b]);
        a.word_rank() == b.word_rank() && a.cmp == b.cmp && a.datum == b.datum && a.mask == b.mask
    }

    /// Whether `a` sorts after `b` on a level (`_db_chain_lt`).
    fn after(&self, a: Id, b: Id) -> bool {
        let (a, b) = (&self.nodes[a], &self.nodes[b]);
        if a.word_rank() != b.word_rank() {
            return a.word_rank() < b.word_rank();
        }
        if a.op_rank() != b.op_rank() {
            return a.op_rank() < b.op_rank();
        }
        match a.op {
            ArgOp::LessOrEqual | ArgOp::LessThan => a.datum > b.datum,
            _ => a.datum < b.datum,
        }
    }

    /// Removes `node` (found from the root) and its sub-levels, and on the way any leaf without
    /// actions (`_db_tree_remove`). Returns how many nodes were freed.
    fn remove(&mut self, slot: Slot, node: Id) -> u32 {
        let Some(head) = self.read(slot) else {
            return 0;
        };
        let mut n = self.level_start(head);
        let mut freed = 0;
        loop {
            if self.burn() {
                return freed;
            }
            if n == node {
                return freed + self.unlink_and_put(slot, n);
            }
            freed += self.remove(Slot::SubT(n), node);
            freed += self.remove(Slot::SubF(n), node);
            if self.nodes[n].is_zombie() {
                return freed + self.unlink_and_put(slot, n);
            }
            match self.nodes[n].next {
                Some(next) if freed == 0 => n = next,
                _ => return freed,
            }
        }
    }

    fn unlink_and_put(&mut self, slot: Slot, n: Id) -> u32 {
        let (prev, next) = (self.nodes[n].prev, self.nodes[n].next);
        if self.read(slot) == Some(n) {
            self.write(slot, prev.or(next));
        }
        if let Some(p) = prev {
            self.nodes[p].next = next;
        }
        if let Some(q) = next {
            self.nodes[q].prev = prev;
        }
        self.nodes[n].prev = None;
        self.nodes[n].next = None;
        self.put(&mut Some(n))
    }

    /// Removes parts of the existing tree that the new chain makes redundant, and reports (in
    /// `state`) whether the new chain is itself redundant (`_db_tree_prune`). Returns how many
    /// nodes were freed.
    fn prune(&mut self, existing: Link, new: Link, state: &mut PruneState) -> u32 {
        let mut freed = 0;
        let mut st = *state;
        let finish = |state: &mut PruneState, st: PruneState| {
            if st.flags & ist::MATCH != 0 {
                state.flags |= st.flags;
            } else {
                state.flags &= !ist::MATCH;
            }
        };
        let (Some(x0), Some(n)) = (existing, new) else {
            finish(state, st);
            return freed;
        };
        if state.flags & ist::MATCHSET == ist::MATCH_ONCE {
            finish(state, st);
            return freed;
        }
        let mut cursor = Some(self.level_start(x0));
        // Descends into a sub-level while holding a reference to `x`, which may be freed (and
        // then replaced by a former neighbour, or None) meanwhile.
        macro_rules! descend {
            ($x:ident, $existing:expr, $new:expr, $clear:expr, $set:expr) => {{
                self.get(Some($x));
                let mut sub = *state;
                sub.flags &= !$clear;
                sub.flags |= $set;
                freed += self.prune($existing, $new, &mut sub);
                let mut held = Some($x);
                freed += self.put(&mut held);
                (sub, held)
            }};
        }
        let ran_off = 'level: {
            'nodes: while let Some(mut x) = cursor {
                if self.burn() {
                    break 'level false;
                }
                let x_next = self.nodes[x].next;
                if self.same(x, n) {
                    st.flags |= ist::MATCHSET;
                    if self.nodes[n].is_leaf() {
                        st.flags |= ist::N_FINISHED;
                    }
                    if self.nodes[x].is_leaf() {
                        st.flags |= ist::X_FINISHED;
                    }
                    let (xn, nn) = (&self.nodes[x], &self.nodes[n]);
                    if (xn.act_t_set || xn.sub_t.is_some()) && !(nn.act_t_set || nn.sub_t.is_some())
                    {
                        break 'level false;
                    }
                    if (xn.act_f_set || xn.sub_f.is_some()) && !(nn.act_f_set || nn.sub_f.is_some())
                    {
                        break 'level false;
                    }
                    if st.flags & ist::N_FINISHED != 0
                        && st.flags & ist::X_FINISHED != 0
                        && (nn.act_t_set != xn.act_t_set
                            || nn.act_t != xn.act_t
                            || nn.act_f_set != xn.act_f_set
                            || nn.act_f != xn.act_f)
                    {
                        break 'level false;
                    }
                    if let Some(n_sub) = self.nodes[n].sub_t {
                        let (sub, held) =
                            descend!(x, self.nodes[x].sub_t, Some(n_sub), 0, ist::MATCHSET);
                        if sub.flags & ist::MATCH != 0 {
                            st.flags |= sub.flags;
                        }
                        match held {
                            None => {
                                cursor = x_next;
                                continue 'nodes;
                            }
                            Some(h) => x = h,
                        }
                    }
                    if let Some(n_sub) = self.nodes[n].sub_f {
                        let (sub, held) =
                            descend!(x, self.nodes[x].sub_f, Some(n_sub), 0, ist::MATCHSET);
                        if sub.flags & ist::MATCH != 0 {
                            st.flags |= sub.flags;
                        }
                        match held {
                            None => {
                                cursor = x_next;
                                continue 'nodes;
                            }
                            Some(h) => x = h,
                        }
                    }
                    let matched =
                        self.actions_are(Some(x), st.action) && st.flags & ist::MATCH != 0;
                    if matched && st.flags & ist::N_FINISHED != 0 && st.flags & ist::X_PREFIX != 0 {
                        // The new chain is shorter: drop the existing one.
                        freed += self.remove(Slot::Root, x);
                        if self.root.is_none() {
                            break 'level false;
                        }
                    } else if matched
                        && st.flags & ist::X_FINISHED != 0
                        && st.flags & ist::N_PREFIX != 0
                    {
                        // The new chain is longer.
                        break 'level false;
                    }
                } else if self.after(x, n) {
                    if state.flags & ist::N_PREFIX != 0 {
                        break 'level false;
                    }
                    for true_edge in [true, false] {
                        let x_sub = if true_edge {
                            self.nodes[x].sub_t
                        } else {
                            self.nodes[x].sub_f
                        };
                        if x_sub.is_none() {
                            continue;
                        }
                        let (sub, held) = descend!(x, x_sub, Some(n), ist::MATCH, ist::X_PREFIX);
                        if sub.flags & ist::MATCH != 0 {
                            st.flags |= sub.flags;
                            break 'level false;
                        }
                        match held {
                            None => {
                                cursor = x_next;
                                continue 'nodes;
                            }
                            Some(h) => x = h,
                        }
                    }
                } else {
                    if state.flags & ist::X_PREFIX != 0 {
                        break 'level false;
                    }
                    for true_edge in [true, false] {
                        let n_sub = if true_edge {
                            self.nodes[n].sub_t
                        } else {
                            self.nodes[n].sub_f
                        };
                        if n_sub.is_none() {
                            continue;
                        }
                        let (sub, held) = descend!(x, Some(x), n_sub, ist::MATCH, ist::N_PREFIX);
                        if sub.flags & ist::MATCH != 0 {
                            st.flags |= sub.flags;
                            break 'level false;
                        }
                        match held {
                            None => {
                                cursor = x_next;
                                continue 'nodes;
                            }
                            Some(h) => x = h,
                        }
                    }
                }
                cursor = x_next;
            }
            true
        };
        if ran_off {
            // Ran off the level: nothing matched.
            st.flags &= !ist::MATCH;
        }
        finish(state, st);
        freed
    }

    /// Adds the new chain starting at `new` into the level `slot` points to (`_db_tree_add`).
    /// Nodes of the new chain are linked in, not copied, and so are shared sub-levels.
    fn merge(&mut self, slot: Slot, new: Id) -> Result<(), ()> {
        let n = new;
        let mut x = self.read(slot).expect("merging into an empty level");
        loop {
            if self.burn() {
                return Err(());
            }
            if self.same(x, n) {
                let nn = self.nodes[n].clone();
                if nn.act_t_set {
                    if !self.nodes[x].act_t_set {
                        if !self.actions_are(self.nodes[x].sub_t, nn.act_t) {
                            return Err(());
                        }
                        let mut sub = self.nodes[x].sub_t;
                        let freed = self.put(&mut sub);
                        self.node_cnt = self.node_cnt.wrapping_sub(freed);
                        let xn = &mut self.nodes[x];
                        xn.sub_t = None;
                        xn.act_t = nn.act_t;
                        xn.act_t_set = true;
                    } else if nn.act_t != self.nodes[x].act_t {
                        // libseccomp keeps the action of the larger 64-bit datum on the high
                        // word's "greater" edge.
                        if nn.high && nn.datum_full > self.nodes[x].datum_full {
                            self.nodes[x].act_t = nn.act_t;
                        }
                        if self.nodes[x].is_leaf() || nn.is_leaf() {
                            return Err(());
                        }
                    }
                }
                if nn.act_f_set {
                    if !self.nodes[x].act_f_set {
                        if !self.actions_are(self.nodes[x].sub_f, nn.act_f) {
                            return Err(());
                        }
                        let mut sub = self.nodes[x].sub_f;
                        let freed = self.put(&mut sub);
                        self.node_cnt = self.node_cnt.wrapping_sub(freed);
                        let xn = &mut self.nodes[x];
                        xn.sub_f = None;
                        xn.act_f = nn.act_f;
                        xn.act_f_set = true;
                    } else if nn.act_f != self.nodes[x].act_f {
                        if nn.high && nn.datum_full < self.nodes[x].datum_full {
                            match self.release {
                                Release::Before2_6_1 => self.nodes[x].act_t = nn.act_t,
                                Release::From2_6_1 => self.nodes[x].act_f = nn.act_f,
                            }
                        }
                        if self.nodes[x].is_leaf() || nn.is_leaf() {
                            return Err(());
                        }
                    }
                }
                if let Some(n_sub) = nn.sub_t {
                    if self.nodes[x].sub_t.is_some() {
                        self.merge(Slot::SubT(x), n_sub)?;
                    } else if !self.nodes[x].act_t_set {
                        self.nodes[x].sub_t = self.get(Some(n_sub));
                    } else {
                        return Ok(()); // the existing chain is shorter
                    }
                }
                if let Some(n_sub) = nn.sub_f {
                    if self.nodes[x].sub_f.is_some() {
                        self.merge(Slot::SubF(x), n_sub)?;
                    } else if !self.nodes[x].act_f_set {
                        self.nodes[x].sub_f = self.get(Some(n_sub));
                    } else {
                        return Ok(());
                    }
                }
                return Ok(());
            } else if !self.after(x, n) {
                match self.nodes[x].next {
                    None => {
                        self.nodes[n].prev = self.get(Some(x));
                        self.nodes[x].next = self.get(Some(n));
                        return Ok(());
                    }
                    Some(next) => x = next,
                }
            } else {
                match self.nodes[x].prev {
                    Some(p) => {
                        self.nodes[p].next = self.get(Some(n));
                        self.nodes[n].prev = Some(p);
                        self.nodes[x].prev = self.get(Some(n));
                        self.nodes[n].next = Some(x);
                    }
                    None => {
                        self.nodes[x].prev = self.get(Some(n));
                        self.nodes[n].next = self.get(Some(x));
                    }
                }
                if self.read(slot) == Some(x) {
                    let head = self.get(Some(n));
                    self.write(slot, head);
                    self.put(&mut Some(x));
                }
                return Ok(());
            }
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
                stack.extend(self.nodes[i].sub_t);
                stack.extend(self.nodes[i].sub_f);
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
            for sub in [self.nodes[i].sub_t, self.nodes[i].sub_f]
                .into_iter()
                .flatten()
            {
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
mod tests {
    //! Expected decisions are libseccomp 2.5.4's (checked with tests/scripts/libseccomp_bpf.py).
    use super::*;
    use crate::seccomp::{
        bpf::{run, Assembler, SeccompData},
        libseccomp::gen::{Code, Entry},
    };

    const DEFAULT: u32 = 0x0005_0001; // ERRNO(1)
    const ERRNO2: u32 = 0x0005_0002;
    const ALLOW: u32 = 0x7fff_0000;
    const TRAP: u32 = 0x0003_0000;
    const LOG: u32 = 0x7ffc_0000;

    fn c(index: u32, op: ArgOp, value: u64) -> ArgCondition {
        ArgCondition {
            index,
            value,
            value_two: 0,
            op,
        }
    }

    fn masked(index: u32, mask: u64, datum: u64) -> ArgCondition {
        ArgCondition {
            index,
            value: mask,
            value_two: datum,
            op: ArgOp::MaskedEqual,
        }
    }

    fn rule(action: u32, conditions: &[ArgCondition]) -> Rule {
        Rule {
            conditions: conditions.to_vec(),
            action,
        }
    }

    /// The decision of the emitted BPF for `args`.
    fn decide(s: &Syscall, args: [u64; 6]) -> u32 {
        match s {
            Syscall::Return(a) => *a,
            Syscall::Tree(t) => {
                let mut code = Code::default();
                let entry = code.add(t, DEFAULT);
                code.place(entry);
                let mut asm = Assembler::default();
                let label = asm.new_label();
                code.emit(&mut asm, &[(label, entry)]);
                let prog = asm.finish();
                run(
                    &prog,
                    &SeccompData {
                        args,
                        ..Default::default()
                    },
                )
                .unwrap()
            }
        }
    }

    fn build_254(rules: &[Rule], wide: bool) -> Result<Syscall, TreeError> {
        build(rules, wide, Release::Before2_6_1)
    }

    fn a(a0: u64, a1: u64) -> [u64; 6] {
        [a0, a1, 0, 0, 0, 0]
    }

    #[test]
    fn higher_argument_is_tested_first_in_either_order() {
        let r1 = rule(ERRNO2, &[c(0, ArgOp::Equal, 5)]);
        let r2 = rule(ALLOW, &[c(1, ArgOp::Equal, 7)]);
        for rules in [[r1.clone(), r2.clone()], [r2, r1]] {
            let s = build_254(&rules, true).unwrap();
            assert_eq!(decide(&s, a(5, 7)), ALLOW);
            assert_eq!(decide(&s, a(5, 8)), ERRNO2);
            assert_eq!(decide(&s, a(6, 8)), DEFAULT);
        }
    }

    #[test]
    fn larger_bound_first_in_either_order() {
        let r1 = rule(ERRNO2, &[c(0, ArgOp::GreaterOrEqual, 10)]);
        let r2 = rule(ALLOW, &[c(0, ArgOp::GreaterOrEqual, 5)]);
        for rules in [[r1.clone(), r2.clone()], [r2, r1]] {
            let s = build_254(&rules, true).unwrap();
            assert_eq!(decide(&s, a(10, 0)), ERRNO2);
            assert_eq!(decide(&s, a(9, 0)), ALLOW);
            assert_eq!(decide(&s, a(4, 0)), DEFAULT);
            assert_eq!(decide(&s, a(1 << 32, 0)), ERRNO2);
        }
    }

    #[test]
    fn backtracking_reaches_other_alternatives() {
        let rules = [
            rule(ALLOW, &[c(0, ArgOp::Equal, 5)]),
            rule(ERRNO2, &[c(0, ArgOp::Equal, 6)]),
            rule(TRAP, &[c(1, ArgOp::Equal, 1)]),
        ];
        let s = build_254(&rules, true).unwrap();
        assert_eq!(decide(&s, a(5, 1)), TRAP);
        assert_eq!(decide(&s, a(6, 1)), TRAP);
        assert_eq!(decide(&s, a(5, 2)), ALLOW);
        assert_eq!(decide(&s, a(6, 2)), ERRNO2);
    }

    #[test]
    fn prefix_rules() {
        let p = rule(ERRNO2, &[c(0, ArgOp::Equal, 5)]);
        let q = rule(ALLOW, &[c(0, ArgOp::Equal, 5), c(1, ArgOp::Equal, 7)]);
        // P first: Q is dropped.
        let s = build_254(&[p.clone(), q.clone()], true).unwrap();
        assert_eq!(decide(&s, a(5, 7)), ERRNO2);
        // Q first, then P with the same action: P remains.
        let q_same = rule(ERRNO2, &q.conditions);
        let s = build_254(&[q_same, p.clone()], true).unwrap();
        assert_eq!(decide(&s, a(5, 7)), ERRNO2);
        assert_eq!(decide(&s, a(5, 8)), ERRNO2);
        // Q first, then P with a different action: EEXIST.
        assert_eq!(
            build_254(&[q, p], true).unwrap_err(),
            TreeError::Conflict { rule: 1 }
        );
    }

    #[test]
    fn same_conditions_different_action_conflict() {
        let r1 = rule(ERRNO2, &[c(0, ArgOp::Equal, 5)]);
        assert_eq!(
            build_254(&[r1.clone(), rule(ALLOW, &r1.conditions)], true).unwrap_err(),
            TreeError::Conflict { rule: 1 }
        );
        assert!(build_254(&[r1.clone(), r1.clone()], true).is_ok());
        let two = rule(ALLOW, &[c(0, ArgOp::Equal, 5), c(0, ArgOp::Equal, 6)]);
        assert_eq!(
            build_254(&[two], true).unwrap_err(),
            TreeError::SameArgument { rule: 0, index: 0 }
        );
    }

    #[test]
    fn unconditional_rules() {
        let cond = rule(ERRNO2, &[c(0, ArgOp::Equal, 5)]);
        let all = rule(ALLOW, &[]);
        assert!(matches!(
            build_254(&[cond.clone(), all.clone()], true).unwrap(),
            Syscall::Return(ALLOW)
        ));
        assert!(matches!(
            build_254(&[all.clone(), cond], true).unwrap(),
            Syscall::Return(ALLOW)
        ));
        assert!(matches!(
            build_254(&[all, rule(TRAP, &[])], true).unwrap(),
            Syscall::Return(ALLOW)
        ));
    }

    #[test]
    fn wide_comparisons_are_exact() {
        let values = [
            0,
            1,
            5,
            0xffff_ffff,
            1 << 32,
            (1 << 32) + 1,
            (1 << 32) + 5,
            0x2_0000_0000,
            u64::MAX - 1,
            u64::MAX,
        ];
        let ops = [
            ArgOp::Equal,
            ArgOp::NotEqual,
            ArgOp::GreaterThan,
            ArgOp::GreaterOrEqual,
            ArgOp::LessThan,
            ArgOp::LessOrEqual,
        ];
        for op in ops {
            for &datum in &values {
                let s = build_254(&[rule(ALLOW, &[c(2, op, datum)])], true).unwrap();
                for &v in &values {
                    for arg in [v.wrapping_sub(1), v, v.wrapping_add(1)] {
                        let holds = match op {
                            ArgOp::Equal => arg == datum,
                            ArgOp::NotEqual => arg != datum,
                            ArgOp::GreaterThan => arg > datum,
                            ArgOp::GreaterOrEqual => arg >= datum,
                            ArgOp::LessThan => arg < datum,
                            _ => arg <= datum,
                        };
                        let want = if holds { ALLOW } else { DEFAULT };
                        assert_eq!(
                            decide(&s, [0, 0, arg, 0, 0, 0]),
                            want,
                            "{op:?} {datum:#x} on {arg:#x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn masked_equal_masks_the_datum() {
        let s = build_254(&[rule(ALLOW, &[masked(0, 0xff, 0x1012)])], true).unwrap();
        assert_eq!(decide(&s, a(0x12, 0)), ALLOW);
        assert_eq!(decide(&s, a(0x1_0000_0312, 0)), ALLOW);
        assert_eq!(decide(&s, a(0x13, 0)), DEFAULT);
        // A zero mask is no condition at all.
        assert!(matches!(
            build_254(&[rule(ALLOW, &[masked(0, 0, 5)])], true).unwrap(),
            Syscall::Return(ALLOW)
        ));
        // A zero half is still compared (and always holds).
        let s = build_254(
            &[rule(
                ALLOW,
                &[masked(0, 0xffff_ffff_0000_0000, 0x1_0000_0000)],
            )],
            true,
        )
        .unwrap();
        assert_eq!(decide(&s, a(0x1_1234_5678, 0)), ALLOW);
        assert_eq!(decide(&s, a(0x2_0000_0000, 0)), DEFAULT);
        // 32-bit: only the low half of the mask counts.
        assert!(matches!(
            build_254(&[rule(ALLOW, &[masked(0, 0xff_0000_0000, 5)])], false).unwrap(),
            Syscall::Return(ALLOW)
        ));
    }

    #[test]
    fn narrow_compares_low_words() {
        let s = build_254(
            &[rule(ALLOW, &[c(0, ArgOp::GreaterOrEqual, 1 << 32)])],
            false,
        )
        .unwrap();
        assert_eq!(decide(&s, a(0, 0)), ALLOW);
        let s = build_254(&[rule(ALLOW, &[c(0, ArgOp::Equal, 8)])], false).unwrap();
        assert_eq!(decide(&s, a(0x1_0000_0008, 0)), ALLOW);
        let s = build_254(
            &[rule(
                LOG,
                &[c(0, ArgOp::NotEqual, 8), c(1, ArgOp::LessThan, 3)],
            )],
            false,
        )
        .unwrap();
        assert_eq!(decide(&s, a(7, 2)), LOG);
        assert_eq!(decide(&s, a(8, 2)), DEFAULT);
        assert_eq!(decide(&s, a(7, 3)), DEFAULT);
    }

    /// libseccomp's generator threads its accumulator state through a level in node order, so
    /// after `a0 < 5`'s low-word check falls through, `a0 > 0x1_0000_0003`'s high-word check
    /// compares arg0's low word (no reload): 5, 6 and 7 get ERRNO(2) where the rules say
    /// default. That is libseccomp's fault, reproduced here because this model predicts what
    /// runc enforces (`profile check` warns about it); our compiler decides these by meaning
    /// (seccomp::compile's tests).
    #[test]
    fn model_reproduces_the_skipped_reload() {
        let rules = [
            rule(ALLOW, &[c(0, ArgOp::LessThan, 5)]),
            rule(ERRNO2, &[c(0, ArgOp::GreaterThan, 0x1_0000_0003)]),
        ];
        let s = build_254(&rules, true).unwrap();
        assert_eq!(decide(&s, a(4, 0)), ALLOW);
        for v in [5, 6, 7] {
            assert_eq!(decide(&s, a(v, 0)), ERRNO2, "{v}");
        }
        assert_eq!(decide(&s, a(0x1_0000_0003, 0)), DEFAULT);
        assert_eq!(decide(&s, a(0x1_0000_0004, 0)), ERRNO2);
    }

    /// A block shared by two syscalls gets its reload (or not) where libseccomp's assembler
    /// first places it: in the tree of the syscall with more nodes, which it reaches first.
    #[test]
    fn shared_block_reloads_as_placed_first() {
        let gt = rule(ERRNO2, &[c(0, ArgOp::GreaterThan, 0x1_0000_0003)]);
        let x = build_254(
            &[rule(ALLOW, &[c(0, ArgOp::LessThan, 5)]), gt.clone()],
            true,
        )
        .unwrap();
        let y = build_254(&[gt, rule(ALLOW, &[c(0, ArgOp::Equal, 5)])], true).unwrap();
        let (Syscall::Tree(x), Syscall::Tree(y)) = (x, y) else {
            panic!("both depend on arg0");
        };
        assert!(x.priority() < y.priority());
        // Places the trees in `order` (0: x, 1: y), then runs y's code.
        let decide_y = |order: &[usize]| {
            let mut code = Code::default();
            let entries: Vec<Entry> = [&x, &y].iter().map(|t| code.add(t, DEFAULT)).collect();
            for &t in order {
                code.place(entries[t]);
            }
            let mut asm = Assembler::default();
            let label = asm.new_label();
            code.emit(&mut asm, &[(label, entries[1])]);
            let prog = asm.finish();
            let data = |v| SeccompData {
                args: a(v, 0),
                ..Default::default()
            };
            [4, 5, 7].map(|v| run(&prog, &data(v)).unwrap())
        };
        // Alone, y's tree reloads arg0's high word before the shared check.
        assert_eq!(decide_y(&[1]), [DEFAULT, ALLOW, DEFAULT]);
        // Placed by x's tree first, it does not.
        assert_eq!(decide_y(&[0, 1]), [ERRNO2, ALLOW, ERRNO2]);
    }

    /// GHSA-4q85-33p6-j5g6: merging the second rule's high-word node, 2.5.4 overwrites the
    /// true edge's action with LOG where the false edge's was meant (checked against Debian's
    /// libseccomp: LOG for a0 = u64::MAX); 2.6.1 leaves TRAP there.
    #[test]
    fn model_follows_each_release_around_the_tree_merge_fix() {
        let rules = [
            rule(LOG, &[c(0, ArgOp::NotEqual, 0xffff_ffff)]),
            rule(TRAP, &[c(0, ArgOp::NotEqual, 5)]),
        ];
        let at = |release| {
            let s = build(&rules, true, release).unwrap();
            decide(&s, a(u64::MAX, 0))
        };
        assert_eq!(at(Release::Before2_6_1), LOG);
        assert_eq!(at(Release::From2_6_1), TRAP);
    }

    #[test]
    fn circular_tree_is_reported() {
        // libseccomp 2.5.4 never returns from adding these rules.
        let lt = |i| c(i, ArgOp::LessThan, 0x1_0000_0001);
        let rules = [
            rule(0x8000_0000, &[lt(1), lt(2), lt(0)]),
            rule(0x5_0003, &[lt(2)]),
            rule(0x8000_0000, &[lt(0), lt(2)]),
            rule(ALLOW, &[lt(1), lt(2)]),
            rule(0x5_0003, &[lt(0), lt(2)]),
            rule(0x5_0003, &[lt(0), lt(2)]),
            rule(0x8000_0000, &[lt(0), lt(1), lt(2)]),
            rule(ALLOW, &[lt(2), lt(0)]),
        ];
        assert!(matches!(
            build_254(&rules, true),
            Err(TreeError::Hang { .. })
        ));
    }
}
