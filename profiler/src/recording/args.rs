//! The argument values `record --args` learned (what the kernel side kept in `ARG_VALUES` and
//! `ARG_SETS`); `profile::restrict` turns them into rules.
use std::collections::{BTreeMap, BTreeSet};

/// What the kernel side learned for one target: per kind (index into
/// `profiler_common::ARG_KINDS`), the distinct values, and whether one was not kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LearnedArgs {
    pub sets: BTreeMap<u32, ValueSet>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValueSet {
    pub values: BTreeSet<u64>,
    pub overflow: bool,
}

impl LearnedArgs {
    pub fn add_value(&mut self, kind: u32, value: u64) {
        self.sets.entry(kind).or_default().values.insert(value);
    }

    pub fn overflow(&mut self, kind: u32) {
        self.sets.entry(kind).or_default().overflow = true;
    }
}
