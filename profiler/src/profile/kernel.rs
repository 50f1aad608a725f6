//! Kernel versions as moby compares them: the running kernel's, and the `minKernel` of Docker
//! profiles' conditions.
use crate::sys;

/// The running kernel's version could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("reading the kernel version: {0}")]
pub struct KernelVersionError(String);

/// The running kernel's `(kernel, major)` from `uname -r`.
pub fn running_kernel() -> Result<(u32, u32), KernelVersionError> {
    let release = sys::kernel_release().map_err(|err| KernelVersionError(err.to_string()))?;
    parse_kernel_version(&release).ok_or(KernelVersionError(format!("cannot read {release:?}")))
}

/// `"<kernel>.<major>"` at the start of a release string, as moby's `Sscanf("%d.%d")` reads
/// it: "6.18.3-amd64" and "3.12-1-amd64" give (6, 18) and (3, 12).
pub fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let digits = |s: &str| -> Option<(u32, usize)> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        Some((s[..end].parse().ok()?, end))
    };
    let (kernel, end) = digits(release)?;
    let rest = release[end..].strip_prefix('.')?;
    let (major, _) = digits(rest)?;
    Some((kernel, major))
}

/// Parses a `minKernel` string as moby does (exactly two parts, each a u8, not 0.0).
pub fn parse_min_kernel(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    let major: u8 = major.parse().ok()?;
    let minor: u8 = minor.parse().ok()?;
    (major, minor)
        .ne(&(0, 0))
        .then_some((major.into(), minor.into()))
}
