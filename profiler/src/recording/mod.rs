//! What a recording holds: syscall counts per ABI and number, the argument values `record --args`
//! learned ([`args`]), what the profile made of it allows beyond them ([`Additions`]), and the
//! counts side file written next to a profile ([`counts`]). Data only: `profile::learn` turns a
//! recording into a profile, `ebpf` fills one from the kernel's maps.
pub mod args;
pub mod counts;

use std::collections::{BTreeMap, BTreeSet};

use self::args::LearnedArgs;
use crate::syscalls::Arch;

/// Syscall counts by ABI and number, summed over CPUs and processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    pub counts: BTreeMap<(Arch, u64), u64>,
    /// With `record --args`: the argument values learned.
    pub args: Option<LearnedArgs>,
}

/// A counted syscall whose number has no name in its ABI's table. It cannot be allowed by name,
/// so it is reported rather than dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownSyscall {
    pub abi: Arch,
    pub nr: u64,
    pub count: u64,
}

/// What a profile allows beyond the calls seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Additions {
    /// Implied name → why.
    pub implied: BTreeMap<&'static str, &'static str>,
    /// Group → the members it added: those on the profile's architectures that no other rule
    /// covers (with `--args`, the syscalls it restricts and clone3 are left to it).
    pub groups: BTreeMap<String, BTreeSet<&'static str>>,
}

impl Additions {
    /// Every added name.
    pub fn names(&self) -> BTreeSet<&'static str> {
        self.implied
            .keys()
            .copied()
            .chain(self.groups.values().flatten().copied())
            .collect()
    }
}

impl Recording {
    pub fn add(&mut self, abi: Arch, nr: u64, count: u64) {
        if count > 0 {
            *self.counts.entry((abi, nr)).or_default() += count;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The ABIs of the syscalls seen that have a name. A number without one allows nothing,
    /// so it must not add its ABI to the profile either: a program making bogus i386 or x32
    /// calls while it is learned would otherwise open every allowed name to that ABI.
    pub fn abis(&self) -> Vec<Arch> {
        let mut abis: Vec<Arch> = self
            .counts
            .keys()
            .filter(|(abi, nr)| abi.name(*nr).is_some())
            .map(|(abi, _)| *abi)
            .collect();
        abis.dedup();
        abis
    }

    /// The profile's architectures: the ABIs seen, this machine's when nothing was.
    pub fn architectures(&self) -> Vec<Arch> {
        let mut architectures = self.abis();
        if architectures.is_empty() {
            architectures.push(Arch::NATIVE);
        }
        architectures
    }

    /// The names seen, over every ABI.
    pub fn names(&self) -> BTreeSet<&'static str> {
        self.counts
            .keys()
            .filter_map(|(abi, nr)| abi.name(*nr))
            .collect()
    }

    /// "57 syscalls (x86_64 55, i386 2)": the distinct named syscalls, per ABI when several.
    pub fn summary(&self) -> String {
        let mut per_abi: BTreeMap<Arch, usize> = BTreeMap::new();
        let mut names = std::collections::BTreeSet::new();
        for (abi, nr) in self.counts.keys() {
            if let Some(name) = abi.name(*nr) {
                names.insert(name);
                *per_abi.entry(*abi).or_default() += 1;
            }
        }
        let mut text = format!("{} syscalls", names.len());
        if per_abi.len() > 1 {
            let parts: Vec<String> = per_abi
                .iter()
                .map(|(abi, n)| format!("{} {n}", abi.short_name()))
                .collect();
            text.push_str(&format!(" ({})", parts.join(", ")));
        } else if let Some(abi) = per_abi.keys().next() {
            text.push_str(&format!(" ({})", abi.short_name()));
        }
        text
    }

    pub fn unknown(&self) -> Vec<UnknownSyscall> {
        self.counts
            .iter()
            .filter(|((abi, nr), _)| abi.name(*nr).is_none())
            .map(|(&(abi, nr), &count)| UnknownSyscall { abi, nr, count })
            .collect()
    }
}
