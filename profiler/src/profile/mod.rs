//! The profile model: a seccomp allow-list shaped like the OCI runtime-spec's `linux.seccomp`
//! object, which Docker, podman, runc, crun and the kubelet's Localhost profiles all read.
use serde::{Deserialize, Serialize};

use crate::syscalls::Abi;

/// errno glibc treats as "clone3 is not there" and falls back to clone on.
pub const ENOSYS: u32 = 38;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<Abi>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<SyscallRule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    pub names: Vec<String>,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
}

/// Seccomp actions, by their libseccomp names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Action {
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
}

impl Profile {
    /// The canonical text of a profile: pretty JSON with a final newline. Field order is fixed
    /// by the struct and rules are built sorted, so equal profiles give equal bytes.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a profile always serialises");
        text.push('\n');
        text
    }
}
