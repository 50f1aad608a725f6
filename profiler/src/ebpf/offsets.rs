//! Field offsets the eBPF programs need, read from the running kernel's BTF: `task_struct`'s
//! layout differs between kernels and configs, so nothing here may be hard-coded. The
//! registers' layout is fixed by each architecture's ABI; the programs read it at constant
//! offsets, which are checked here against the kernel's BTF before anything is loaded.
use std::{
    fs::File,
    io,
    os::fd::{AsRawFd as _, FromRawFd as _},
    path::Path,
};

use btf_rs::{Backend, Btf, Type};
use profiler_common::{machine::pt_regs, TaskOffsets};

/// The kernel's BTF could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BtfReadError {
    #[error(
        "the kernel has no BTF ({path} is missing): profile needs a kernel built with \
         CONFIG_DEBUG_INFO_BTF=y (Linux 5.4 and later offer it; profile supports 5.10 and later)"
    )]
    Missing { path: String },
    #[error("cannot read kernel BTF from {path}: {source}")]
    Io { path: String, source: io::Error },
}

impl BtfReadError {
    pub fn new(path: &Path, source: io::Error) -> BtfReadError {
        let path = path.display().to_string();
        if source.kind() == io::ErrorKind::NotFound {
            BtfReadError::Missing { path }
        } else {
            BtfReadError::Io { path, source }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OffsetError {
    #[error(transparent)]
    Read(#[from] BtfReadError),
    #[error("kernel BTF has no struct {0}")]
    NoStruct(&'static str),
    #[error("kernel BTF: struct {strukt} has no member {member}")]
    NoMember {
        strukt: &'static str,
        member: &'static str,
    },
    #[error(
        "kernel BTF: pt_regs.{field} is at byte {kernel}, the programs read it at byte {ours} \
         (this build is for {arch} kernels)"
    )]
    Registers {
        field: &'static str,
        kernel: u32,
        ours: usize,
        arch: &'static str,
    },
    #[error("kernel BTF: {0}")]
    Btf(#[from] btf_rs::Error),
}

pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// The offsets the programs are patched with, after checking that the registers are where they
/// read them.
pub fn task_offsets(btf_path: &Path) -> Result<TaskOffsets, OffsetError> {
    let btf = open(btf_path)?;
    for (field, ours) in pt_regs::READ {
        let kernel = member_offset(&btf, "pt_regs", field)?;
        if kernel as usize != ours {
            return Err(OffsetError::Registers {
                field,
                kernel,
                ours,
                arch: std::env::consts::ARCH,
            });
        }
    }
    // 5.19 replaced the ids of a cgroup's ancestors with pointers to them.
    let (cgroup_ancestors, ancestor_pointers) = match member_offset(&btf, "cgroup", "ancestors") {
        Ok(offset) => (offset, true),
        Err(OffsetError::NoMember { .. }) => {
            (member_offset(&btf, "cgroup", "ancestor_ids")?, false)
        }
        Err(err) => return Err(err),
    };
    Ok(TaskOffsets {
        tgid: member_offset(&btf, "task_struct", "tgid")?,
        thread_status: thread_status(&btf)?,
        signal: member_offset(&btf, "task_struct", "signal")?,
        signal_live: member_offset(&btf, "signal_struct", "live")?,
        // `struct seccomp { int mode; … }` is embedded in task_struct.
        seccomp_mode: member_offset(&btf, "task_struct", "seccomp")?
            + member_offset(&btf, "seccomp", "mode")?,
        task_cgroups: member_offset(&btf, "task_struct", "cgroups")?,
        css_set_dfl_cgrp: member_offset(&btf, "css_set", "dfl_cgrp")?,
        cgroup_level: member_offset(&btf, "cgroup", "level")?,
        cgroup_ancestors,
        ancestor_pointers: u32::from(ancestor_pointers),
        cgroup_kn: member_offset(&btf, "cgroup", "kn")?,
        kernfs_node_id: member_offset(&btf, "kernfs_node", "id")?,
    })
}

/// x86's `thread_info.status` holds `TS_COMPAT`; arm64 tells 32-bit calls by their registers and
/// its `thread_info` has no such field.
#[cfg(target_arch = "x86_64")]
fn thread_status(btf: &Btf) -> Result<u32, OffsetError> {
    Ok(member_offset(btf, "task_struct", "thread_info")?
        + member_offset(btf, "thread_info", "status")?)
}

#[cfg(target_arch = "aarch64")]
fn thread_status(_btf: &Btf) -> Result<u32, OffsetError> {
    Ok(0)
}

/// The kernel's BTF, mapped: parsing all of it up front (btf-rs's `Cache` backend) takes
/// ~100 ms, a mapping ~2 ms. sysfs lets `/sys/kernel/btf/vmlinux` be mapped only from Linux
/// 6.16 on (ENODEV before), so there it is copied into an anonymous memory file, which can be
/// (~3 ms more).
fn open(path: &Path) -> Result<Btf, BtfReadError> {
    match Btf::from_file_with_backend(path, Backend::Mmap) {
        Ok(btf) => Ok(btf),
        Err(btf_rs::Error::IO(err)) if err.raw_os_error() == Some(libc::ENODEV) => {
            let copy = copy_to_memory(path).map_err(|err| BtfReadError::new(path, err))?;
            let fd_path = format!("/proc/self/fd/{}", copy.as_raw_fd());
            Btf::from_file_with_backend(&fd_path, Backend::Mmap).map_err(|err| BtfReadError::Io {
                path: path.display().to_string(),
                source: io::Error::other(err),
            })
        }
        Err(btf_rs::Error::IO(err)) => Err(BtfReadError::new(path, err)),
        Err(err) => Err(BtfReadError::Io {
            path: path.display().to_string(),
            source: io::Error::other(err),
        }),
    }
}

fn copy_to_memory(path: &Path) -> io::Result<File> {
    // SAFETY: the name is a valid C string; the fd is owned by the File from here on.
    let fd = unsafe { libc::memfd_create(c"profile-kernel-btf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut copy = unsafe { File::from_raw_fd(fd) };
    io::copy(&mut File::open(path)?, &mut copy)?;
    Ok(copy)
}

/// Byte offset of `member` (possibly inside anonymous structs or unions) in `strukt`.
fn member_offset(
    btf: &Btf,
    strukt: &'static str,
    member: &'static str,
) -> Result<u32, OffsetError> {
    let root = btf
        .resolve_types_by_name(strukt)
        .map_err(|_| OffsetError::NoStruct(strukt))?
        .into_iter()
        .find_map(|ty| match ty {
            Type::Struct(s) if !s.members.is_empty() => Some(s),
            _ => None,
        })
        .ok_or(OffsetError::NoStruct(strukt))?;
    let bits = find_member(btf, &root, member)?.ok_or(OffsetError::NoMember { strukt, member })?;
    Ok(bits / 8)
}

/// Bit offset of a named member, searching anonymous members depth-first as C does.
fn find_member(btf: &Btf, s: &btf_rs::Struct, name: &str) -> Result<Option<u32>, OffsetError> {
    for member in &s.members {
        let member_name = btf.resolve_name(member).unwrap_or_default();
        if member_name == name {
            return Ok(Some(member.bit_offset()));
        }
        if member_name.is_empty() {
            if let Some(inner) = anonymous_aggregate(btf, member)? {
                if let Some(bits) = find_member(btf, &inner, name)? {
                    return Ok(Some(member.bit_offset() + bits));
                }
            }
        }
    }
    Ok(None)
}

fn anonymous_aggregate(
    btf: &Btf,
    member: &btf_rs::Member,
) -> Result<Option<btf_rs::Struct>, OffsetError> {
    let mut ty = btf.resolve_chained_type(member)?;
    loop {
        ty = match ty {
            Type::Struct(s) | Type::Union(s) => return Ok(Some(s)),
            Type::Typedef(t) => btf.resolve_chained_type(&t)?,
            Type::Const(t) | Type::Volatile(t) => btf.resolve_chained_type(&t)?,
            _ => return Ok(None),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the running kernel's BTF (world-readable, no root needed) and checks the offsets
    /// against layout facts that hold on every x86_64 kernel with THREAD_INFO_IN_TASK.
    #[test]
    fn offsets_from_the_running_kernel() {
        let offsets = task_offsets(Path::new(KERNEL_BTF)).unwrap();
        // thread_info is task_struct's first member; status follows flags and syscall_work.
        #[cfg(target_arch = "x86_64")]
        assert_eq!(offsets.thread_status, 16);
        assert!(offsets.tgid > 64, "{offsets:?}");
        assert!(offsets.signal > offsets.tgid, "{offsets:?}");
        assert!(
            offsets.signal_live > 0 && offsets.signal_live < 64,
            "{offsets:?}"
        );
        assert!(offsets.seccomp_mode > offsets.tgid, "{offsets:?}");
    }

    /// A copy of the kernel's BTF mapped from memory gives the same offsets as the file mapped
    /// directly (the path taken where sysfs refuses mmap).
    #[test]
    fn a_copy_in_memory_reads_like_the_file() {
        let copy = copy_to_memory(Path::new(KERNEL_BTF)).unwrap();
        let fd_path = format!("/proc/self/fd/{}", copy.as_raw_fd());
        let from_copy = Btf::from_file_with_backend(&fd_path, Backend::Mmap).unwrap();
        let from_file = open(Path::new(KERNEL_BTF)).unwrap();
        for (strukt, member) in [("task_struct", "tgid"), ("signal_struct", "live")] {
            assert_eq!(
                member_offset(&from_copy, strukt, member).unwrap(),
                member_offset(&from_file, strukt, member).unwrap()
            );
        }
    }

    /// The registers the programs read are where the running kernel keeps them (`cs` sits in an
    /// anonymous union on x86_64 kernels with FRED); a layout that disagrees is refused.
    #[test]
    fn pt_regs_offsets_are_checked_against_the_kernel() {
        let btf = open(Path::new(KERNEL_BTF)).unwrap();
        for (field, ours) in pt_regs::READ {
            assert_eq!(
                member_offset(&btf, "pt_regs", field).unwrap() as usize,
                ours,
                "pt_regs.{field}"
            );
        }
        let err = OffsetError::Registers {
            field: "cs",
            kernel: 140,
            ours: 136,
            arch: "x86_64",
        };
        assert_eq!(
            err.to_string(),
            "kernel BTF: pt_regs.cs is at byte 140, the programs read it at byte 136 \
             (this build is for x86_64 kernels)"
        );
    }

    #[test]
    fn a_missing_file_says_the_kernel_has_no_btf() {
        let err = task_offsets(Path::new("/nonexistent/vmlinux")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/vmlinux is missing"), "{text}");
        assert!(text.contains("CONFIG_DEBUG_INFO_BTF"), "{text}");
        // Anything else is named as it is, not blamed on the kernel's configuration.
        let err = task_offsets(Path::new("/proc/self/mem")).unwrap_err();
        assert!(!err.to_string().contains("CONFIG_DEBUG_INFO_BTF"), "{err}");
    }
}
