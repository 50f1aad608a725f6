#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompileError {
    #[error("cannot compile for {0}: only x86_64, x86, x32, aarch64 and arm are supported")]
    UnsupportedArch(String),
    #[error("{0} cannot be compiled: it needs a user-space listener (listenerPath), which `profile run` does not provide")]
    Notify(&'static str),
    #[error("the profile still has Docker conditions (archMap, includes or excludes); resolve it for a target first")]
    Unresolved,
    #[error("syscalls[{rule}].args[{arg}]: argument index {index} is out of range (0–5)")]
    ArgIndex { rule: usize, arg: usize, index: u32 },
    #[error("errnoRet {0} is out of range: 1–4094 for SCMP_ACT_ERRNO, 0–65535 for SCMP_ACT_TRACE")]
    Errno(u32),
    #[error("the filter needs {0} instructions, more than the kernel's limit of 4096")]
    TooLong(usize),
    #[error("the argument rules of {name} on {arch} combine into more checks than the kernel's limit of 4096 instructions holds")]
    TooComplex { name: String, arch: &'static str },
    /// libseccomp (so runc, crun and podman) refuses the rule: so do we.
    #[error("syscalls[{rule}]: {name} on {arch}: {source}")]
    Rule {
        rule: usize,
        name: String,
        arch: &'static str,
        source: TreeError,
    },
}

/// Why libseccomp refuses to add a rule to a syscall's argument tree (the model in
/// [`libseccomp::tree`](super::libseccomp::tree)).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    /// libseccomp's -EEXIST: the rule reaches a comparison that already leads to another action.
    #[error("rule {rule} conflicts with an earlier rule of the same syscall: the same conditions lead to a different action (libseccomp: EEXIST)")]
    Conflict { rule: usize },
    /// libseccomp's -EINVAL: two conditions on one argument in one rule.
    #[error("rule {rule} has two conditions on argument {index} (libseccomp: EINVAL)")]
    SameArgument { rule: usize, index: u32 },
    /// libseccomp never returns from adding this rule (it loops forever; runc would hang).
    #[error("rule {rule} makes libseccomp loop forever (its argument tree becomes circular)")]
    Hang { rule: usize },
    #[error("rule {rule}: argument index {index} is out of range (0–5)")]
    ArgIndex { rule: usize, index: u32 },
}
