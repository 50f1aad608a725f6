//! bpffs: pins need it, and many hosts do not mount it.
use std::{ffi::CString, io, os::fd::AsRawFd as _, os::unix::ffi::OsStrExt as _, path::Path};

use log::info;

/// Where bpffs is mounted when it is not.
pub const BPFFS: &str = "/sys/fs/bpf";
/// `BPF_FS_MAGIC` (include/uapi/linux/magic.h).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

fn on_bpffs(path: &Path) -> io::Result<bool> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a statfs buffer.
    if unsafe { libc::statfs(c.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat.f_type as i64 == BPF_FS_MAGIC)
}

/// Makes sure `pin_root` can hold pins: below an existing bpffs, or below /sys/fs/bpf, which is
/// mounted when it is not yet.
pub fn ensure_bpffs(pin_root: &Path) -> io::Result<()> {
    // The nearest existing ancestor tells which file system the pins would land on.
    let existing = pin_root
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    if on_bpffs(existing)? {
        return Ok(());
    }
    if !pin_root.starts_with(BPFFS) {
        return Err(io::Error::other(format!(
            "{} is not on a bpf file system (mount one, or use a --pin-dir below {BPFFS})",
            pin_root.display()
        )));
    }
    std::fs::create_dir_all(BPFFS)?;
    let source = c"bpf";
    let target = CString::new(BPFFS).expect("no NUL");
    // SAFETY: valid C strings; no data.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            source.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("mounting bpffs at {BPFFS}: {err}"),
        ));
    }
    info!("mounted bpffs at {BPFFS}");
    Ok(())
}

/// The pin directory, held by one daemon: two daemons on one set of pins would each free the
/// kernel entries of removed cgroups once their own profiles are written, losing what the other
/// had not read yet. Held until dropped, or until the process dies (`kill -9` included).
pub struct PinLock {
    _held: std::fs::File,
}

/// Takes `pin_root` (created when missing) for this daemon; `None` while another process holds
/// it.
pub fn try_lock(pin_root: &Path) -> io::Result<Option<PinLock>> {
    std::fs::create_dir_all(pin_root)?;
    let dir = std::fs::File::open(pin_root)?;
    // SAFETY: flock on a descriptor we own; the lock goes with it.
    if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(PinLock { _held: dir }));
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(None)
    } else {
        Err(err)
    }
}
