//! `record --args`: the distinct values of the argument that decides the risk of a few syscalls
//! ([`ARG_KINDS`]), bounded per (target, kind). Called only when `Config::args` is set, which
//! the verifier knows as a constant, so without `--args` none of this is in the program.
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{bpf_probe_read_kernel, bpf_probe_read_user},
};
use profiler_common::{
    machine::pt_regs::{COMPAT_ARGS, NATIVE_ARGS},
    ArgSet, ArgSetKey, ArgValueKey, ABI_COMPAT, ABI_NATIVE, ARG_CLONE, ARG_CLONE3, ARG_KINDS,
    ARG_SOCKET, EVENT_ARGS_LOST, EVENT_READ_FAILED, MAX_ARG_VALUES,
};

use crate::maps::{note_event, ARG_SETS, ARG_VALUES};

/// `EEXIST`: a `BPF_NOEXIST` insert found the key.
const EEXIST: i32 = 17;

/// Learns the argument of syscall `nr` (of `abi`) if it is one of [`ARG_KINDS`]. `target` is the
/// slot, or the cgroup id below a cgroup root; `regs` the call's saved registers.
#[inline(always)]
pub fn record(regs: *const u8, target: u64, abi: u32, nr: u64) {
    if abi != ABI_NATIVE && abi != ABI_COMPAT {
        return;
    }
    let mut index = 0;
    while index < ARG_KINDS.len() {
        let kind = &ARG_KINDS[index];
        let number = if abi == ABI_COMPAT {
            kind.compat
        } else {
            kind.native
        };
        if number != 0 && number == nr {
            record_kind(regs, target, abi, index as u32);
            return;
        }
        index += 1;
    }
}

#[inline(always)]
fn record_kind(regs: *const u8, target: u64, abi: u32, index: u32) {
    let kind = &ARG_KINDS[index as usize];
    let Some(first) = register(regs, abi, kind.arg) else {
        note_event(EVENT_READ_FAILED);
        return lost(target, index);
    };
    let (stored, value) = match index {
        ARG_SOCKET => {
            let Some(second) = register(regs, abi, kind.arg2) else {
                note_event(EVENT_READ_FAILED);
                return lost(target, index);
            };
            (index, ((first & kind.mask) << 32) | (second & kind.mask2))
        }
        // The first field of `struct clone_args` is the flags word.
        ARG_CLONE3 => match unsafe { bpf_probe_read_user(first as *const u64) } {
            Ok(flags) => (ARG_CLONE, flags & kind.mask),
            Err(_) => return lost(target, ARG_CLONE),
        },
        _ => (index, first & kind.mask),
    };
    store(target, stored, value);
}

/// Argument `n` of the current syscall; compat (i386, arm) values are 32 bits (libseccomp
/// compares only the low half there).
#[inline(always)]
fn register(regs: *const u8, abi: u32, n: u32) -> Option<u64> {
    let n = n as usize;
    if n >= 6 {
        return None;
    }
    let offset = if abi == ABI_COMPAT {
        COMPAT_ARGS[n]
    } else {
        NATIVE_ARGS[n]
    };
    let value = unsafe { bpf_probe_read_kernel(regs.add(offset) as *const u64) }.ok()?;
    Some(if abi == ABI_COMPAT {
        value & 0xffff_ffff
    } else {
        value
    })
}

#[inline(always)]
fn store(target: u64, kind: u32, value: u64) {
    let key = ArgValueKey {
        target,
        kind,
        _pad: 0,
        value,
    };
    // The common case once a program runs: a value already seen.
    if ARG_VALUES.get_ptr(&key).is_some() {
        return;
    }
    let Some(set) = set(target, kind) else {
        return;
    };
    // Races between CPUs can add a few values past the bound; userspace treats more than
    // MAX_ARG_VALUES as an overflow too.
    unsafe {
        if (*set).overflow != 0 {
            return;
        }
        if (*set).distinct >= MAX_ARG_VALUES {
            (*set).overflow = 1;
            return;
        }
    }
    match ARG_VALUES.insert(&key, &1, BPF_NOEXIST as u64) {
        Ok(()) => unsafe { (*set).distinct += 1 },
        // Another CPU stored it first.
        Err(err) if err == -EEXIST => {}
        Err(_) => {
            note_event(EVENT_ARGS_LOST);
            unsafe { (*set).overflow = 1 };
        }
    }
}

/// The set of (target, kind), created empty on first use.
#[inline(always)]
fn set(target: u64, kind: u32) -> Option<*mut ArgSet> {
    let key = ArgSetKey {
        target,
        kind,
        _pad: 0,
    };
    if let Some(set) = ARG_SETS.get_ptr_mut(&key) {
        return Some(set);
    }
    // BPF_NOEXIST: another CPU may have created it meanwhile; then the lookup below finds it.
    let _ = ARG_SETS.insert(&key, &ArgSet::default(), BPF_NOEXIST as u64);
    let set = ARG_SETS.get_ptr_mut(&key);
    if set.is_none() {
        note_event(EVENT_ARGS_LOST);
    }
    set
}

/// A value that could not be read or stored: its set is marked, so the syscall stays
/// unconditional rather than losing the value silently.
#[inline(always)]
fn lost(target: u64, kind: u32) {
    if let Some(set) = set(target, kind) {
        unsafe { (*set).overflow = 1 };
    }
}
