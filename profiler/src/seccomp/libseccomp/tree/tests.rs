//! Expected decisions are libseccomp 2.5.4's (checked with tests/scripts/libseccomp_bpf.py).
use super::*;
use crate::profile::ArgCondition;
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
