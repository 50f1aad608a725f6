//! Waiting for a command that runs as profile's child, while passing on the stop signals meant
//! for it.
use std::{io, os::fd::AsRawFd};

use tokio::io::{unix::AsyncFd, Interest};

use crate::sys::{self, Signals};

/// Registers a descriptor for readiness.
pub fn poll_readable<T: AsRawFd>(inner: T) -> io::Result<AsyncFd<T>> {
    // SAFETY: every `T` here owns its descriptor, which stays open while the AsyncFd holds it.
    unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }
        .map_err(|err| err.into_parts().1)
}

/// Waits for `pid` to exit and returns its wait status. Stop signals sent to profile alone are
/// passed on; a terminal's ^C already reached the command through its process group and is not
/// sent twice.
pub async fn wait(pid: libc::pid_t, signals: &AsyncFd<Signals>) -> io::Result<i32> {
    let exited = poll_readable(sys::pidfd_open(pid)?)?;
    loop {
        tokio::select! {
            guard = exited.readable() => {
                let mut guard = guard?;
                if let Some(status) = sys::try_wait(pid)? {
                    return Ok(status);
                }
                guard.clear_ready();
            }
            guard = signals.readable() => {
                let mut guard = guard?;
                while let Some(sig) = signals.get_ref().read()? {
                    if !sig.from_kernel {
                        sys::send_signal(pid, sig.signo);
                    }
                }
                guard.clear_ready();
            }
        }
    }
}
