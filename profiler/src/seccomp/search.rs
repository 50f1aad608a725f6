//! Code that sends a 32-bit value (the accumulator) to where the range it falls in goes: the
//! syscall-number dispatch and every argument word use it.
//!
//! Two shapes, chosen per window of ranges by instruction count: a balanced search (`jge` at
//! the middle boundary, each side searched again), or a chain of tests against the window's
//! most common target (`jeq` for a single value, one `jgt`/`jge` for a range at an edge of the
//! window, two for one inside). Jumps to returns and labels cost nothing themselves (the
//! assembler shares one `ret` among all the jumps within reach), so a search costs one
//! instruction per boundary and a chain one per test. A chain runs its tests one after the
//! other, so it is only taken for a few tests; a set of single values over one background is the
//! exception where the caller allows it: there a chain costs one instruction per value, half of
//! what a search over the same values needs, which is also libseccomp's layout.
use super::bpf::{Assembler, JumpTo, BPF_JEQ, BPF_JGE, BPF_JGT};

/// Most tests a chain may run, unless it is a chain of single values and those are allowed
/// any length.
const CHAIN_LIMIT: usize = 8;

/// How [`emit`] may lay out the search.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// A chain of single values may be of any length (fewest instructions; each value is then
    /// tested one after the other).
    pub long_value_chains: bool,
}

/// Sends the accumulator to the target of the range it falls in. `ranges` are `(first value,
/// target)`, sorted by first value, the first one starting at 0, each running to the next
/// one's start (the last to `u32::MAX`). Targets are returns or labels placed later.
pub fn emit(asm: &mut Assembler, ranges: &[(u32, JumpTo)], shape: Shape) {
    debug_assert!(ranges.first().is_some_and(|&(start, _)| start == 0));
    debug_assert!(ranges
        .iter()
        .all(|(_, t)| matches!(t, JumpTo::Return(_) | JumpTo::Label(_))));
    let (plan, _) = plan(ranges, u32::MAX, shape);
    emit_plan(asm, &plan);
}

/// Values `lo..=hi` go to `target`.
#[derive(Clone, Copy, Debug)]
struct Test {
    lo: u32,
    hi: u32,
    target: JumpTo,
}

#[derive(Debug)]
enum Plan {
    Single(JumpTo),
    Split {
        at: u32,
        left: Box<Plan>,
        right: Box<Plan>,
    },
    Chain {
        /// The window's first and last value: tests at its edges need one comparison.
        window: (u32, u32),
        tests: Vec<Test>,
        background: JumpTo,
    },
}

/// The cheapest layout of `ranges`, the last of which ends at `end`, and its instruction count
/// (a single target costs nothing: the jump leading there names it).
fn plan(ranges: &[(u32, JumpTo)], end: u32, shape: Shape) -> (Plan, usize) {
    if let [(_, target)] = ranges {
        return (Plan::Single(*target), 0);
    }
    let mid = ranges.len() / 2;
    let at = ranges[mid].0;
    let (left, left_cost) = plan(&ranges[..mid], at - 1, shape);
    let (right, right_cost) = plan(&ranges[mid..], end, shape);
    let split_cost = 1 + left_cost + right_cost;
    if let Some((chain, chain_cost)) = chain(ranges, end, shape) {
        if chain_cost < split_cost {
            return (chain, chain_cost);
        }
    }
    (
        Plan::Split {
            at,
            left: Box::new(left),
            right: Box::new(right),
        },
        split_cost,
    )
}

/// A chain over the most common target, if the shape allows one here.
fn chain(ranges: &[(u32, JumpTo)], end: u32, shape: Shape) -> Option<(Plan, usize)> {
    // Every other range at least is a test: a longer window cannot be a short chain.
    if !shape.long_value_chains && ranges.len() > 2 * CHAIN_LIMIT + 1 {
        return None;
    }
    let window = (ranges[0].0, end);
    let mut counts: Vec<(JumpTo, usize)> = Vec::new();
    for &(_, target) in ranges {
        match counts.iter_mut().find(|(t, _)| *t == target) {
            Some((_, n)) => *n += 1,
            None => counts.push((target, 1)),
        }
    }
    let background = counts.iter().max_by_key(|(_, n)| *n)?.0;
    let tests: Vec<Test> = ranges
        .iter()
        .enumerate()
        .filter(|(_, (_, target))| *target != background)
        .map(|(i, &(lo, target))| Test {
            lo,
            hi: ranges.get(i + 1).map_or(end, |&(next, _)| next - 1),
            target,
        })
        .collect();
    let values_only = tests.iter().all(|t| t.lo == t.hi);
    if tests.len() > CHAIN_LIMIT && !(values_only && shape.long_value_chains) {
        return None;
    }
    let cost = tests
        .iter()
        .map(|t| {
            if t.lo == t.hi || t.lo == window.0 || t.hi == window.1 {
                1
            } else {
                2
            }
        })
        .sum();
    Some((
        Plan::Chain {
            window,
            tests,
            background,
        },
        cost,
    ))
}

fn emit_plan(asm: &mut Assembler, plan: &Plan) {
    match plan {
        Plan::Single(target) => asm.goto(*target),
        Plan::Split { at, left, right } => {
            let right_label = match **right {
                Plan::Single(target) => target,
                _ => JumpTo::Label(asm.new_label()),
            };
            let left_target = match **left {
                Plan::Single(target) => target,
                _ => JumpTo::Next,
            };
            asm.jump(BPF_JGE, *at, right_label, left_target);
            if !matches!(**left, Plan::Single(_)) {
                emit_plan(asm, left);
            }
            if let JumpTo::Label(label) = right_label {
                if !matches!(**right, Plan::Single(_)) {
                    asm.place(label);
                    emit_plan(asm, right);
                }
            }
        }
        Plan::Chain {
            window,
            tests,
            background,
        } => {
            for (i, test) in tests.iter().enumerate() {
                // The last test's "not here" is the background itself.
                let go_on = if i + 1 == tests.len() {
                    *background
                } else {
                    JumpTo::Next
                };
                if test.lo == test.hi {
                    asm.jump(BPF_JEQ, test.lo, test.target, go_on);
                } else if test.lo == window.0 {
                    asm.jump(BPF_JGT, test.hi, go_on, test.target);
                } else if test.hi == window.1 {
                    asm.jump(BPF_JGE, test.lo, test.target, go_on);
                } else {
                    let past = match go_on {
                        JumpTo::Next => JumpTo::Label(asm.new_label()),
                        other => other,
                    };
                    asm.jump(BPF_JGE, test.lo, JumpTo::Next, past);
                    asm.jump(BPF_JGT, test.hi, go_on, test.target);
                    if let JumpTo::Label(label) = past {
                        if go_on == JumpTo::Next {
                            asm.place(label);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::bpf::{run, SeccompData};

    /// Runs the search for `value` and returns the value of the `ret` it reached.
    fn decide(ranges: &[(u32, u32)], shape: Shape, value: u32) -> (u32, usize) {
        let mut asm = Assembler::default();
        asm.load_abs(0);
        let targets: Vec<(u32, JumpTo)> = ranges
            .iter()
            .map(|&(start, ret)| (start, JumpTo::Return(ret)))
            .collect();
        emit(&mut asm, &targets, shape);
        let program = asm.finish();
        let data = SeccompData {
            nr: value,
            ..Default::default()
        };
        (run(&program, &data).unwrap(), program.len())
    }

    fn expected(ranges: &[(u32, u32)], value: u32) -> u32 {
        ranges
            .iter()
            .rev()
            .find(|&&(start, _)| start <= value)
            .unwrap()
            .1
    }

    const SHORT: Shape = Shape {
        long_value_chains: false,
    };
    const LONG: Shape = Shape {
        long_value_chains: true,
    };

    #[test]
    fn every_value_reaches_its_range() {
        let cases: Vec<Vec<(u32, u32)>> = vec![
            vec![(0, 1)],
            vec![(0, 1), (5, 2)],
            vec![(0, 1), (5, 2), (6, 1)],
            vec![(0, 2), (3, 1), (u32::MAX, 3)],
            vec![(0, 1), (2, 2), (9, 1), (10, 3), (11, 1), (20, 2), (30, 1)],
            (0..40).map(|i| (i * 3, i % 4)).collect(),
            (0..100).map(|i| (i * 2, i % 2)).collect(),
        ];
        for ranges in &cases {
            let mut probes: Vec<u32> = vec![0, 1, u32::MAX, u32::MAX - 1];
            for &(start, _) in ranges {
                probes.extend([start, start.wrapping_sub(1), start.saturating_add(1)]);
            }
            for shape in [SHORT, LONG] {
                for &value in &probes {
                    assert_eq!(
                        decide(ranges, shape, value).0,
                        expected(ranges, value),
                        "{ranges:?} at {value}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_value_set_costs_one_instruction_per_value() {
        // 3,000 values to ALLOW (1) over a default (2): one jeq each plus a `ret ALLOW` per
        // 255 instructions, besides the load and the final returns.
        let mut ranges = vec![(0, 2)];
        for i in 0..3000u32 {
            ranges.push((1000 + 7 * i, 1));
            ranges.push((1001 + 7 * i, 2));
        }
        let (_, len) = decide(&ranges, LONG, 0);
        assert!(len <= 1 + 3000 + 3000 / 250 + 2, "{len} instructions");
        for i in [0u32, 1, 254, 255, 256, 1000, 2999] {
            let v = 1000 + 7 * i;
            assert_eq!(decide(&ranges, LONG, v).0, 1, "{v}");
            assert_eq!(decide(&ranges, LONG, v + 1).0, 2, "{}", v + 1);
        }
        // Without long chains, a search: fewer tests run, more instructions.
        let (_, len) = decide(&ranges, SHORT, 0);
        assert!(len > 3100, "{len}");
        assert_eq!(decide(&ranges, SHORT, 1000 + 7 * 1234).0, 1);
        assert_eq!(decide(&ranges, SHORT, 1001 + 7 * 1234).0, 2);
    }
}
