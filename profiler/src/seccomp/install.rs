//! The only place that calls prctl/seccomp: installing a compiled filter in the calling thread.
use std::io;

use super::bpf::SockFilter;

/// `SECCOMP_FILTER_FLAG_LOG`: log every action but ALLOW.
pub const FLAG_LOG: u32 = 1 << 1;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`: keep speculative store bypass mitigation off.
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;

/// Sets no_new_privs and installs `program` for the calling thread. Meant for right before
/// execve: it only makes the two syscalls.
pub fn install(program: &[SockFilter], flags: u32) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: plain prctl; no pointers.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fprog points at `program`, which outlives the call; SockFilter has
    // sock_filter's layout.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
