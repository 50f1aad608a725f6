//! [`stage`] and [`promote`]: a profile's default action for each step of a rollout.
use super::*;

/// The profile with default SCMP_ACT_LOG: everything it would block is logged and let through,
/// except what its rules block explicitly. Rules are kept as they are.
pub fn stage(profile: &Profile) -> Profile {
    Profile {
        default_action: Action::Log,
        default_errno_ret: None,
        ..profile.clone()
    }
}

/// Adds one unconditional SCMP_ACT_ALLOW rule for those of `names` that exist on an
/// architecture the profile filters (its list plus `native`) and that no rule mentions yet (so
/// nothing restricted by arguments is widened, and no explicit block is overridden). Returns
/// the names added, sorted.
pub fn allow_unruled(profile: &mut Profile, names: &BTreeSet<&str>, native: Arch) -> Vec<String> {
    let arches = filtered(profile, native);
    let ruled = profile.names();
    let added: Vec<String> = names
        .iter()
        .filter(|name| {
            !ruled.contains(*name) && arches.iter().any(|&arch| knows(arch, name) == Some(true))
        })
        .map(|name| name.to_string())
        .collect();
    if !added.is_empty() {
        profile.syscalls.push(SyscallRule {
            names: added.clone(),
            action: Action::Allow,
            ..SyscallRule::default()
        });
    }
    added
}

/// What [`promote`] makes the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforce {
    /// SCMP_ACT_ERRNO with this errno.
    Errno(u32),
    /// SCMP_ACT_KILL_PROCESS.
    KillProcess,
}

/// The profile with an enforcing default (usually from a staged SCMP_ACT_LOG one); rules kept.
/// Refuses a default of SCMP_ACT_ALLOW.
pub fn promote(profile: &Profile, enforce: Enforce) -> Result<Profile, OpError> {
    if profile.default_action == Action::Allow {
        return Err(OpError::AllowDefault);
    }
    let (default_action, default_errno_ret) = match enforce {
        Enforce::Errno(errno) => (Action::Errno, Some(errno)),
        Enforce::KillProcess => (Action::KillProcess, None),
    };
    Ok(Profile {
        default_action,
        default_errno_ret,
        ..profile.clone()
    })
}
