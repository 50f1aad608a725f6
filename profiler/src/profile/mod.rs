//! The profile model: a seccomp policy shaped like the OCI runtime-spec's `linux.seccomp` object
//! (which runc, crun, podman, Docker and the kubelet's Localhost profiles read), plus the Docker
//! dialect's conditions (`archMap`, per-rule `includes`/`excludes`) until they are resolved for a
//! target.
pub mod caps;
pub mod errno;
pub mod groups;
pub mod implied;
pub mod k8s;
pub mod kernel;
pub mod learn;
pub mod names;
pub mod ops;
pub mod parse;
pub mod resolve;
pub mod restrict;
pub mod runtimes;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use names::{check_names, NameCheck, UnknownNames};
pub use parse::{parse, Dialect, ParseError, Parsed};
pub use resolve::{resolve, Platform, ResolveError};

use crate::syscalls::Arch;

/// errno glibc treats as "clone3 is not there" and falls back to clone on.
pub const ENOSYS: u32 = 38;

/// The errnos a profile may return: 0 would make a denied call look successful, and although
/// the kernel takes up to 4095, libseccomp (so runc, crun and podman) refuses 4095 and up.
pub const ERRNO_RANGE: std::ops::RangeInclusive<u32> = 1..=4094;

/// SCMP_ACT_TRACE's data: the 16 bits the kernel hands the tracer.
pub const TRACE_DATA_RANGE: std::ops::RangeInclusive<u32> = 0..=0xffff;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<Arch>,
    /// Docker only: the architectures to add for each native architecture.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMapEntry>,
    /// `SECCOMP_FILTER_FLAG_*` names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<SyscallRule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    pub architecture: Arch,
    #[serde(default)]
    pub sub_architectures: Vec<Arch>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    pub names: Vec<String>,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Docker only: the rule applies only when all of these hold.
    #[serde(default, skip_serializing_if = "Condition::is_empty")]
    pub includes: Condition,
    /// Docker only: the rule does not apply when any of these holds.
    #[serde(default, skip_serializing_if = "Condition::is_empty")]
    pub excludes: Condition,
}

/// Docker's per-rule conditions on the target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

impl Condition {
    pub fn is_empty(&self) -> bool {
        *self == Condition::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgCondition {
    pub index: u32,
    pub value: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value_two: u64,
    pub op: ArgOp,
}

/// As text: `arg1 == 3`, `arg0 & 0x7e020000 == 0x0`.
impl std::fmt::Display for ArgCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ArgCondition {
            index,
            value,
            value_two,
            op,
        } = *self;
        let op = match op {
            ArgOp::NotEqual => "!=",
            ArgOp::LessThan => "<",
            ArgOp::LessOrEqual => "<=",
            ArgOp::Equal => "==",
            ArgOp::GreaterOrEqual => ">=",
            ArgOp::GreaterThan => ">",
            ArgOp::MaskedEqual => return write!(f, "arg{index} & {value:#x} == {value_two:#x}"),
        };
        write!(f, "arg{index} {op} {value}")
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ArgOp {
    #[serde(rename = "SCMP_CMP_NE")]
    NotEqual,
    #[serde(rename = "SCMP_CMP_LT")]
    LessThan,
    #[serde(rename = "SCMP_CMP_LE")]
    LessOrEqual,
    #[serde(rename = "SCMP_CMP_EQ")]
    Equal,
    #[serde(rename = "SCMP_CMP_GE")]
    GreaterOrEqual,
    #[serde(rename = "SCMP_CMP_GT")]
    GreaterThan,
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEqual,
}

/// Seccomp actions, by their libseccomp names.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Action {
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    #[default]
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    #[serde(rename = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    /// libseccomp's old name for KILL_THREAD.
    #[serde(rename = "SCMP_ACT_KILL")]
    Kill,
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    #[serde(rename = "SCMP_ACT_NOTIFY")]
    Notify,
}

impl std::fmt::Display for Action {
    /// libseccomp's name, as profiles spell it (`SCMP_ACT_ERRNO`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(value.as_str().ok_or(std::fmt::Error)?)
    }
}

impl Profile {
    /// The canonical text of a profile: pretty JSON with a final newline. Field order is fixed
    /// by the struct, so equal profiles give equal bytes.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a profile always serialises");
        text.push('\n');
        text
    }

    /// The canonical form: names sorted and each once within a rule, architectures each once
    /// (first place kept), empty comments dropped; rule order, argument order and everything
    /// else as given (order between rules never changes a decision, as libseccomp ranks
    /// overlapping rules by action, not position). Idempotent, so parse → canonical → write →
    /// parse gives the same profile and writing twice gives the same bytes.
    pub fn canonicalize(&mut self) {
        let mut seen = Vec::with_capacity(self.architectures.len());
        self.architectures.retain(|arch| {
            let first = !seen.contains(arch);
            seen.push(*arch);
            first
        });
        for rule in &mut self.syscalls {
            rule.names.sort();
            rule.names.dedup();
            if rule.comment.as_deref() == Some("") {
                rule.comment = None;
            }
        }
    }

    /// [`Profile::canonicalize`]d, as JSON ([`Profile::to_json`]).
    pub fn to_canonical_json(&self) -> String {
        let mut canonical = self.clone();
        canonical.canonicalize();
        canonical.to_json()
    }

    /// Whether the profile uses Docker-only fields (`archMap`, `includes`, `excludes`,
    /// `comment`), which runc and crun ignore and [`resolve`] removes.
    pub fn has_docker_fields(&self) -> bool {
        !self.arch_map.is_empty()
            || self.syscalls.iter().any(|rule| {
                rule.comment.is_some() || !rule.includes.is_empty() || !rule.excludes.is_empty()
            })
    }

    /// Every syscall name the rules mention, sorted, each once.
    pub fn names(&self) -> BTreeSet<&str> {
        self.syscalls
            .iter()
            .flat_map(|rule| rule.names.iter().map(String::as_str))
            .collect()
    }
}
