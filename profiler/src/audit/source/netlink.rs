//! The audit netlink socket: the multicast group every record goes to (`profile audit`'s and
//! the daemon's live source), and the kernel's count of records it lost (`AUDIT_GET`).
use std::{
    io, mem,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
};

use anyhow::Context as _;

use super::{Reader, Sink};
use crate::audit::parse::{self, Line};

const NETLINK_AUDIT: i32 = 9;
const AUDIT_NLGRP_READLOG: u32 = 1;

pub(super) struct Netlink {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl Netlink {
    pub(super) fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2).
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                NETLINK_AUDIT,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A burst of records must not overflow the socket: ask for 8 MiB (the FORCE variant
        // ignores rmem_max and needs CAP_NET_ADMIN, which root has).
        let size: libc::c_int = 8 << 20;
        for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: an int option of the right size.
            let r = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    (&size as *const libc::c_int).cast(),
                    mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if r == 0 {
                break;
            }
        }
        // SAFETY: sockaddr_nl is plain data.
        let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = AUDIT_NLGRP_READLOG;
        // SAFETY: binding our socket to a valid sockaddr_nl.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EPERM) {
                return Err(io::Error::new(
                    err.kind(),
                    "binding to the audit multicast group needs CAP_AUDIT_READ",
                ));
            }
            return Err(err);
        }
        Ok(Netlink {
            fd,
            // MAX_AUDIT_MESSAGE_LENGTH is 8970; room for several.
            buf: vec![0; 64 << 10],
        })
    }
}

impl Reader for Netlink {
    fn name(&self) -> String {
        "netlink (audit multicast group 1)".into()
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn drain(&mut self, sink: &mut dyn Sink) -> anyhow::Result<usize> {
        let mut read = 0;
        loop {
            // SAFETY: sockaddr_nl is plain data.
            let mut from: libc::sockaddr_nl = unsafe { mem::zeroed() };
            let mut from_len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: receiving into our buffer, with room for the sender's address.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_nl).cast(),
                    &mut from_len,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(read),
                    Some(libc::EINTR) => continue,
                    Some(libc::ENOBUFS) => {
                        sink.overflowed();
                        log::warn!("the netlink socket's buffer overflowed: records were lost");
                        continue;
                    }
                    _ => return Err(err).context("receiving from the audit netlink group"),
                }
            }
            // Only the kernel (port 0) speaks for audit.
            if from.nl_pid != 0 {
                continue;
            }
            let (messages, error) = parse::split_netlink(&self.buf[..n as usize]);
            for (msg_type, body) in messages {
                read += 1;
                let line = parse::parse_netlink(msg_type, body);
                sink.line(line, body);
            }
            if let Some(error) = error {
                sink.line(Line::Malformed(error), b"(netlink framing)");
            }
        }
    }
}

/// The kernel's count of audit records it could not deliver since boot (its backlog full, its
/// rate limit, no memory; all record types), from `AUDIT_GET`, which needs CAP_AUDIT_CONTROL in
/// the initial pid namespace.
pub fn kernel_lost() -> io::Result<u32> {
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_AUDIT,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let timeout = libc::timeval {
        tv_sec: 1,
        tv_usec: 0,
    };
    // SAFETY: a timeval option of the right size.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    // nlmsghdr: length, type, flags (NLM_F_REQUEST), sequence, port.
    let mut request = [0u8; 16];
    request[0..4].copy_from_slice(&16u32.to_ne_bytes());
    request[4..6].copy_from_slice(&parse::AUDIT_GET.to_ne_bytes());
    request[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // SAFETY: sockaddr_nl is plain data; port 0 is the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: sending our buffer to a valid address of the right size.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut answer = [0u8; 1024];
    // SAFETY: receiving into our buffer.
    let n = unsafe { libc::recv(fd.as_raw_fd(), answer.as_mut_ptr().cast(), answer.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    parse::status_lost(&answer[..n as usize]).map_err(|err| match err {
        parse::StatusError::Refused(errno) => io::Error::from_raw_os_error(errno),
        parse::StatusError::Malformed(what) => {
            io::Error::new(io::ErrorKind::InvalidData, format!("audit status: {what}"))
        }
    })
}
