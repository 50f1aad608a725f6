//! Merging a rule's chain into a syscall's tree (db.c `db_rule_add`, `_db_tree_prune`,
//! `_db_tree_add`, `_db_tree_remove`).
use super::{ist, ArgTree, Edge, Id, Link, NewChain, PruneState, Release, Slot, F, T};
use crate::profile::ArgOp;

impl ArgTree {
    /// Merges a new rule into a syscall that already has one. `action` is the syscall's action
    /// when it has no chains.
    pub(super) fn add(
        &mut self,
        new: NewChain,
        rule_action: u32,
        action: &mut u32,
    ) -> Result<(), ()> {
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
            if node
                .edges
                .iter()
                .any(|e| (e.set && e.action != action) || !self.actions_are(e.sub, action))
            {
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
            for side in [T, F] {
                freed += self.remove(Slot::Sub(side, n), node);
            }
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
                    let leads = |e: &Edge| e.set || e.sub.is_some();
                    if (0..2).any(|side| leads(&xn.edges[side]) && !leads(&nn.edges[side])) {
                        break 'level false;
                    }
                    let same_actions = |a: &Edge, b: &Edge| a.set == b.set && a.action == b.action;
                    if st.flags & ist::N_FINISHED != 0
                        && st.flags & ist::X_FINISHED != 0
                        && (0..2).any(|side| !same_actions(&nn.edges[side], &xn.edges[side]))
                    {
                        break 'level false;
                    }
                    for side in [T, F] {
                        let Some(n_sub) = self.nodes[n].edges[side].sub else {
                            continue;
                        };
                        let (sub, held) = descend!(
                            x,
                            self.nodes[x].edges[side].sub,
                            Some(n_sub),
                            0,
                            ist::MATCHSET
                        );
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
                    for side in [T, F] {
                        let x_sub = self.nodes[x].edges[side].sub;
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
                    for side in [T, F] {
                        let n_sub = self.nodes[n].edges[side].sub;
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
                // Both edges' actions first, then both sub-levels, as `_db_tree_add` does.
                for side in [T, F] {
                    let (ne, xe) = (nn.edges[side], self.nodes[x].edges[side]);
                    if !ne.set {
                        continue;
                    }
                    if !xe.set {
                        if !self.actions_are(xe.sub, ne.action) {
                            return Err(());
                        }
                        let mut sub = xe.sub;
                        let freed = self.put(&mut sub);
                        self.node_cnt = self.node_cnt.wrapping_sub(freed);
                        self.nodes[x].edges[side] = Edge {
                            action: ne.action,
                            set: true,
                            sub: None,
                        };
                    } else if ne.action != xe.action {
                        // libseccomp keeps the action of the larger 64-bit datum on the high
                        // word's "greater" edge (the smaller one's on "not greater").
                        let wins = match side {
                            T => nn.datum_full > self.nodes[x].datum_full,
                            _ => nn.datum_full < self.nodes[x].datum_full,
                        };
                        if nn.high && wins {
                            // GHSA-4q85-33p6-j5g6: before 2.6.1, the false edge's case wrote
                            // the true edge's action.
                            let written = match (side, self.release) {
                                (F, Release::Before2_6_1) => T,
                                _ => side,
                            };
                            self.nodes[x].edges[written].action = nn.edges[written].action;
                        }
                        if self.nodes[x].is_leaf() || nn.is_leaf() {
                            return Err(());
                        }
                    }
                }
                for side in [T, F] {
                    let Some(n_sub) = nn.edges[side].sub else {
                        continue;
                    };
                    if self.nodes[x].edges[side].sub.is_some() {
                        self.merge(Slot::Sub(side, x), n_sub)?;
                    } else if !self.nodes[x].edges[side].set {
                        self.nodes[x].edges[side].sub = self.get(Some(n_sub));
                    } else {
                        return Ok(()); // the existing chain is shorter
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
}
