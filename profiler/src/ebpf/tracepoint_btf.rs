//! The kernel BTF that loading a `tp_btf` program takes. aya's `BtfTracePoint::load` (0.16 as
//! 0.14) wants a parsed `Btf` only to look up the id of the tracepoint's `btf_trace_<name>`
//! typedef, and parsing all of the kernel's BTF (~127,000 types here) costs 14–17 ms and ~20 MiB
//! of memory. A type's id is its position, so the types up to and including that typedef, with
//! the whole string section, give the same id; on this kernel that is the first 9% of the types.
use std::path::Path;

use super::offsets::BtfReadError;

#[derive(Debug, thiserror::Error)]
pub enum TracepointBtfError {
    #[error(transparent)]
    Read(#[from] BtfReadError),
    #[error("kernel BTF {path}: {problem}")]
    Malformed { path: String, problem: String },
    #[error("kernel BTF {path} has no typedef {name}: the kernel has no tracepoint {tracepoint}")]
    NoTracepoint {
        path: String,
        name: String,
        tracepoint: String,
    },
    #[error("kernel BTF {path}: {source}")]
    Parse { path: String, source: aya::BtfError },
}

/// BTF with the type `btf_trace_<tracepoint>` at its id in the kernel's BTF at `btf_path`.
pub fn for_tracepoint(btf_path: &Path, tracepoint: &str) -> Result<aya::Btf, TracepointBtfError> {
    let path = || btf_path.display().to_string();
    let mut data = std::fs::read(btf_path).map_err(|source| BtfReadError::new(btf_path, source))?;
    let name = format!("btf_trace_{tracepoint}");
    match cut_after_typedef(&mut data, &name) {
        Ok(true) => {}
        Ok(false) => {
            return Err(TracepointBtfError::NoTracepoint {
                path: path(),
                name,
                tracepoint: tracepoint.to_owned(),
            })
        }
        Err(problem) => {
            return Err(TracepointBtfError::Malformed {
                path: path(),
                problem,
            })
        }
    }
    aya::Btf::parse(&data, aya::Endianness::default()).map_err(|source| TracepointBtfError::Parse {
        path: path(),
        source,
    })
}

/// `struct btf_header` fields, as byte offsets in the file.
const MAGIC: usize = 0;
const HDR_LEN: usize = 4;
const TYPE_OFF: usize = 8;
const TYPE_LEN: usize = 12;
const STR_OFF: usize = 16;
const STR_LEN: usize = 20;
const HEADER_SIZE: usize = 24;
const BTF_MAGIC: u16 = 0xeb9f;
const KIND_TYPEDEF: u32 = 8;

fn u32_at(data: &[u8], at: usize) -> Result<u32, String> {
    data.get(at..at + 4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        .ok_or_else(|| format!("truncated at byte {at}"))
}

/// Shortens the type section declared in `data`'s header so that it ends with typedef `name`;
/// `false` when there is no such typedef. Types are walked by their kinds' record sizes
/// (`struct btf_type` and what follows it), which are fixed by the BTF format.
fn cut_after_typedef(data: &mut [u8], name: &str) -> Result<bool, String> {
    let magic = data
        .get(MAGIC..MAGIC + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or("shorter than its header")?;
    if magic != BTF_MAGIC || data.len() < HEADER_SIZE {
        return Err(format!(
            "not little-endian BTF (magic {magic:#06x}, {} bytes)",
            data.len()
        ));
    }
    let hdr_len = u32_at(data, HDR_LEN)? as usize;
    let types_start = hdr_len + u32_at(data, TYPE_OFF)? as usize;
    let types_end = types_start + u32_at(data, TYPE_LEN)? as usize;
    let strings_start = hdr_len + u32_at(data, STR_OFF)? as usize;
    let strings_end = strings_start + u32_at(data, STR_LEN)? as usize;
    let strings = data
        .get(strings_start..strings_end)
        .ok_or("string section beyond the end of the file")?;
    if types_end > data.len() {
        return Err("type section beyond the end of the file".to_owned());
    }
    let mut at = types_start;
    while at < types_end {
        let name_off = u32_at(data, at)? as usize;
        let info = u32_at(data, at + 4)?;
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        let trailer = match kind {
            // int: its encoding; var: its linkage; decl_tag: its component index
            1 | 14 | 17 => 4,
            // ptr, fwd, typedef, volatile, const, restrict, func, float, type_tag
            2 | 7..=12 | 16 | 18 => 0,
            // array
            3 => 12,
            // struct and union members; datasec variables; enum64 values
            4 | 5 | 15 | 19 => 12 * vlen,
            // enum values; func_proto parameters
            6 | 13 => 8 * vlen,
            _ => return Err(format!("unknown type kind {kind} at byte {at}")),
        };
        at += 12 + trailer;
        if kind == KIND_TYPEDEF && string_at(strings, name_off) == Some(name.as_bytes()) {
            if at > types_end {
                break;
            }
            let type_len = (at - types_start) as u32;
            data[TYPE_LEN..TYPE_LEN + 4].copy_from_slice(&type_len.to_le_bytes());
            return Ok(true);
        }
    }
    if at > types_end {
        return Err("type section ends inside a type".to_owned());
    }
    Ok(false)
}

fn string_at(strings: &[u8], offset: usize) -> Option<&[u8]> {
    let tail = strings.get(offset..)?;
    Some(&tail[..tail.iter().position(|&b| b == 0)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::KERNEL_BTF;

    /// The running kernel's BTF is world-readable: the cut BTF gives the typedef the id the
    /// whole BTF gives it.
    #[test]
    fn same_id_as_the_whole_kernel_btf() {
        let whole = aya::Btf::from_sys_fs().unwrap();
        let cut = for_tracepoint(Path::new(KERNEL_BTF), "sys_enter").unwrap();
        let id = |btf: &aya::Btf| {
            btf.id_by_type_name_kind("btf_trace_sys_enter", aya_obj::btf::BtfKind::Typedef)
                .unwrap()
        };
        assert_eq!(id(&cut), id(&whole));
        assert!(id(&cut) > 1);
    }

    #[test]
    fn a_tracepoint_the_kernel_lacks_is_named() {
        let err = for_tracepoint(Path::new(KERNEL_BTF), "no_such_tracepoint").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("btf_trace_no_such_tracepoint"), "{text}");
        assert!(text.contains(KERNEL_BTF), "{text}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = for_tracepoint(Path::new("/nonexistent/vmlinux"), "sys_enter").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/vmlinux"), "{err}");
    }

    /// A hand-made BTF: an int, a typedef `a` of it, an array, a typedef `b`.
    fn sample() -> Vec<u8> {
        let strings = b"\0a\0b\0int\0";
        let mut types = Vec::new();
        let mut record = |name: u32, kind: u32, vlen: u32, size_or_type: u32, trailer: &[u8]| {
            types.extend_from_slice(&name.to_le_bytes());
            types.extend_from_slice(&((kind << 24) | vlen).to_le_bytes());
            types.extend_from_slice(&size_or_type.to_le_bytes());
            types.extend_from_slice(trailer);
        };
        record(5, 1, 0, 4, &32u32.to_le_bytes());
        record(1, KIND_TYPEDEF, 0, 1, &[]);
        record(0, 3, 0, 0, &[0; 12]);
        record(3, KIND_TYPEDEF, 0, 1, &[]);
        let mut data = Vec::new();
        data.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        data.extend_from_slice(&[1, 0]);
        for field in [
            24,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            data.extend_from_slice(&field.to_le_bytes());
        }
        data.extend_from_slice(&types);
        data.extend_from_slice(strings);
        data
    }

    fn type_len(data: &[u8]) -> u32 {
        u32_at(data, TYPE_LEN).unwrap()
    }

    #[test]
    fn cuts_right_after_the_typedef() {
        let mut data = sample();
        assert_eq!(cut_after_typedef(&mut data, "a"), Ok(true));
        assert_eq!(type_len(&data), 16 + 12);
        let btf = aya::Btf::parse(&data, aya::Endianness::Little).unwrap();
        let id = btf.id_by_type_name_kind("a", aya_obj::btf::BtfKind::Typedef);
        assert_eq!(id.unwrap(), 2);

        let mut data = sample();
        assert_eq!(cut_after_typedef(&mut data, "b"), Ok(true));
        assert_eq!(type_len(&data), 16 + 12 + 24 + 12);
    }

    #[test]
    fn only_typedefs_match() {
        let mut data = sample();
        assert_eq!(cut_after_typedef(&mut data, "int"), Ok(false));
        assert_eq!(type_len(&data), 64);
    }

    #[test]
    fn bad_data_is_an_error_not_a_panic() {
        let mut data = sample();
        data[0] = 0;
        assert!(cut_after_typedef(&mut data, "a")
            .unwrap_err()
            .contains("magic"));

        let mut data = sample();
        data[16 + 24 + 7] = 25; // the typedef's kind byte
        let err = cut_after_typedef(&mut data, "a").unwrap_err();
        assert!(err.contains("unknown type kind 25"), "{err}");

        let mut data = sample();
        data.truncate(40);
        assert!(cut_after_typedef(&mut data, "b").is_err());

        assert!(cut_after_typedef(&mut [0x9f, 0xeb], "a").is_err());
    }
}
