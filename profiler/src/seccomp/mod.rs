//! Enforcement: compile a resolved profile to classic BPF that decides by the profile's
//! meaning, install it, and tell where libseccomp (which runc, crun and podman enforce with)
//! decides otherwise.
//!
//! [`compile`] (ours) reads the profile with [`expand`], decides arguments with [`args`] and
//! lays the filter out with [`layout`] and [`search`] on [`bpf`]'s assembler; [`libseccomp`]
//! models libseccomp's own filter from the same expansion and layout; [`divergence`] compares
//! the two.
pub mod args;
pub mod bpf;
pub mod compile;
pub mod divergence;
pub mod error;
pub mod expand;
pub mod install;
pub mod layout;
pub mod libseccomp;
pub mod search;

pub use self::{compile::compile, error::CompileError};

/// The kernel's `SECCOMP_RET_*` action values (the high 16 bits; ERRNO and TRACE carry data in
/// the low ones), by shorter names.
pub use libc::{
    SECCOMP_RET_ALLOW as RET_ALLOW, SECCOMP_RET_ERRNO as RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS as RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD as RET_KILL_THREAD,
    SECCOMP_RET_LOG as RET_LOG, SECCOMP_RET_TRACE as RET_TRACE, SECCOMP_RET_TRAP as RET_TRAP,
    SECCOMP_RET_USER_NOTIF as RET_USER_NOTIF,
};

/// A readable name for an action value, as in disassembly and reports.
pub fn action_name(ret: u32) -> String {
    let data = ret & libc::SECCOMP_RET_DATA;
    match ret & libc::SECCOMP_RET_ACTION_FULL {
        RET_KILL_PROCESS => "KILL_PROCESS".into(),
        RET_KILL_THREAD => "KILL_THREAD".into(),
        RET_TRAP => "TRAP".into(),
        RET_ERRNO => format!("ERRNO({data})"),
        RET_USER_NOTIF => "NOTIFY".into(),
        RET_TRACE => format!("TRACE({data})"),
        RET_LOG => "LOG".into(),
        RET_ALLOW => "ALLOW".into(),
        _ => format!("0x{ret:08x}"),
    }
}
