//! Field offsets the eBPF programs need, read from the running kernel's BTF: `task_struct`'s
//! layout differs between kernels and configs, so nothing here may be hard-coded.
use std::path::Path;

use btf_rs::{Backend, Btf, Type};
use profiler_common::TaskOffsets;

#[derive(Debug, thiserror::Error)]
pub enum OffsetError {
    #[error(
        "cannot read kernel BTF from {path}: {source} (the kernel needs CONFIG_DEBUG_INFO_BTF)"
    )]
    Read { path: String, source: btf_rs::Error },
    #[error("kernel BTF has no struct {0}")]
    NoStruct(&'static str),
    #[error("kernel BTF: struct {strukt} has no member {member}")]
    NoMember {
        strukt: &'static str,
        member: &'static str,
    },
    #[error("kernel BTF: {0}")]
    Btf(#[from] btf_rs::Error),
}

pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

pub fn task_offsets(btf_path: &Path) -> Result<TaskOffsets, OffsetError> {
    let btf = Btf::from_file_with_backend(btf_path, Backend::Mmap).map_err(|source| {
        OffsetError::Read {
            path: btf_path.display().to_string(),
            source,
        }
    })?;
    Ok(TaskOffsets {
        tgid: member_offset(&btf, "task_struct", "tgid")?,
        thread_status: member_offset(&btf, "task_struct", "thread_info")?
            + member_offset(&btf, "thread_info", "status")?,
        signal: member_offset(&btf, "task_struct", "signal")?,
        signal_live: member_offset(&btf, "signal_struct", "live")?,
        // `struct seccomp { int mode; … }` is embedded in task_struct.
        seccomp_mode: member_offset(&btf, "task_struct", "seccomp")?
            + member_offset(&btf, "seccomp", "mode")?,
    })
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
        assert_eq!(offsets.thread_status, 16);
        assert!(offsets.tgid > 64, "{offsets:?}");
        assert!(offsets.signal > offsets.tgid, "{offsets:?}");
        assert!(
            offsets.signal_live > 0 && offsets.signal_live < 64,
            "{offsets:?}"
        );
        assert!(offsets.seccomp_mode > offsets.tgid, "{offsets:?}");
    }

    /// The programs read `struct pt_regs` at fixed offsets (profiler_common::pt_regs): the
    /// running kernel must agree. `cs` sits in an anonymous union on kernels with FRED.
    #[test]
    fn pt_regs_offsets_match_the_running_kernel() {
        use profiler_common::pt_regs::*;
        let btf = Btf::from_file_with_backend(KERNEL_BTF, Backend::Mmap).unwrap();
        for (name, offset) in [
            ("bp", BP),
            ("bx", BX),
            ("r11", R11),
            ("r10", R10),
            ("r9", R9),
            ("r8", R8),
            ("cx", CX),
            ("dx", DX),
            ("si", SI),
            ("di", DI),
            ("ip", IP),
            ("cs", CS),
            ("flags", FLAGS),
        ] {
            let found = member_offset(&btf, "pt_regs", name).unwrap();
            assert_eq!(found as usize, offset, "pt_regs.{name}");
        }
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let err = task_offsets(Path::new("/nonexistent/vmlinux")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/vmlinux"), "{err}");
    }
}
