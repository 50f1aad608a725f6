//! The chain of one new rule before it is merged (db.c `_db_rule_gen_64`, `_db_rule_gen_32`).
use super::{ArgTree, Cmp, Id, Link, NewChain, Node, F, T};
use crate::profile::{ArgCondition, ArgOp};

impl ArgTree {
    /// 64-bit architectures: every condition compares both words; GT/GE/LT/LE use three nodes
    /// (high word greater, high word equal, low word), EQ/NE/MASKED_EQ two.
    pub(super) fn chain_64(&mut self, conditions: &[ArgCondition], action: u32) -> NewChain {
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
                    self.nodes[n0].edges[F].sub = self.get(Some(n1));
                    self.nodes[n1].edges[T].sub = self.get(n2);
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
                    self.nodes[n0].edges[T].sub = self.get(Some(n1));
                }
            }
            match prev {
                None => root = self.get(Some(n0)),
                Some(([p0, p1], p2, op)) => match op {
                    ArgOp::GreaterThan | ArgOp::GreaterOrEqual => {
                        self.nodes[p0].edges[T].sub = self.get(Some(n0));
                        self.nodes[p2.unwrap()].edges[T].sub = self.get(Some(n0));
                    }
                    ArgOp::Equal | ArgOp::MaskedEqual => {
                        self.nodes[p1].edges[T].sub = self.get(Some(n0))
                    }
                    ArgOp::LessThan | ArgOp::LessOrEqual => {
                        self.nodes[p1].edges[F].sub = self.get(Some(n0));
                        self.nodes[p2.unwrap()].edges[F].sub = self.get(Some(n0));
                    }
                    ArgOp::NotEqual => {
                        self.nodes[p0].edges[F].sub = self.get(Some(n0));
                        self.nodes[p1].edges[F].sub = self.get(Some(n0));
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
            self.nodes[n].edges[T].action = action;
            self.nodes[n].edges[T].set = true;
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
                    self.nodes[n].edges[F].action = action;
                    self.nodes[n].edges[F].set = true;
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
    pub(super) fn chain_32(&mut self, conditions: &[ArgCondition], action: u32) -> NewChain {
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
                Some((p, true)) => self.nodes[p].edges[T].sub = self.get(Some(n)),
                Some((p, false)) => self.nodes[p].edges[F].sub = self.get(Some(n)),
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
                self.nodes[n].edges[T].action = action;
                self.nodes[n].edges[T].set = true;
                NewChain {
                    root,
                    action: 0,
                    nodes: 0,
                }
            }
            Some((n, false)) => {
                self.nodes[n].edges[F].action = action;
                self.nodes[n].edges[F].set = true;
                NewChain {
                    root,
                    action: 0,
                    nodes: 0,
                }
            }
        }
    }
}
