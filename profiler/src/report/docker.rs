//! Docker's default seccomp profile, built in so `profile report --against docker` works
//! offline and from the repository alone.
//!
//! `profiler/data/moby-default.json` is a verbatim copy of `profiles/seccomp/default.json` from
//! moby/profiles (Apache License 2.0, Copyright Docker, Inc. and the moby authors), the same
//! file as `../shared/reference/moby-default.json`, and the tests' reference copy.
use crate::profile::{self, resolve::Platform, Profile};

/// The profile as moby ships it (Docker dialect: archMap, includes/excludes).
pub const MOBY_DEFAULT: &str = include_str!("../../data/moby-default.json");

/// The name `--against` takes for it.
pub const NAME: &str = "docker";

/// Docker's default resolved for `target`, as moby resolves it before runc sees it.
pub fn default_profile(target: &Platform) -> Result<Profile, String> {
    let parsed = profile::parse(MOBY_DEFAULT, "docker default").map_err(|err| err.to_string())?;
    profile::resolve(&parsed.profile, target).map_err(|err| format!("docker default: {err}"))
}

/// One line on what the comparison profile is.
pub fn describe(target: &Platform) -> String {
    format!(
        "Docker's default profile (moby), for {}, kernel {}.{}, {} capabilities",
        target.arch,
        target.kernel.0,
        target.kernel.1,
        target.capabilities.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{profile::caps::default_capabilities, syscalls::Arch};

    #[test]
    fn report_docker_default_parses_cleanly_and_resolves() {
        let parsed = profile::parse(MOBY_DEFAULT, "docker default").unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let target = Platform {
            arch: Arch::X86_64,
            kernel: (6, 18),
            capabilities: default_capabilities(),
        };
        let resolved = default_profile(&target).unwrap();
        assert_eq!(resolved.architectures, [Arch::X86_64, Arch::X86, Arch::X32]);
        assert!(
            resolved.names().contains("ptrace"),
            "kernel >= 4.8 gets ptrace"
        );
        assert!(
            !resolved.names().contains("mount"),
            "mount needs CAP_SYS_ADMIN"
        );
    }
}
