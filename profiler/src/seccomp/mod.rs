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

/// `SECCOMP_RET_*` action values (the high 16 bits; ERRNO and TRACE carry data in the low ones).
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

/// A readable name for an action value, as in disassembly and reports.
pub fn action_name(ret: u32) -> String {
    let data = ret & 0xffff;
    match ret & 0xffff_0000 {
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
