//! Resolving the Docker dialect for a target, as moby does before it hands a profile to runc
//! (moby/profiles `seccomp/seccomp_linux.go`, `setupSeccomp`), and checking syscall names
//! against the tables.
//!
//! runc and crun silently ignore `archMap`, `includes`, `excludes` and `comment`, so a profile
//! written for them must be resolved first: the result is plain OCI.
//!
//! moby's rules, which we follow exactly:
//! - `architectures` comes from the one `archMap` entry whose `architecture` is the native
//!   architecture: that entry's architecture followed by its `subArchitectures`. No entry: no
//!   architectures (libseccomp then uses the native one alone). A profile with `architectures`
//!   keeps them (both at once is refused when parsing).
//! - A rule is dropped when its `excludes` holds in any part: the native architecture is in
//!   `excludes.arches`, or *any* of `excludes.caps` is in the capability set, or the kernel is
//!   at least `excludes.minKernel`.
//! - A rule is kept only when its `includes` holds in every part: the native architecture is in
//!   `includes.arches`, *all* of `includes.caps` are in the set, the kernel is at least
//!   `includes.minKernel`.
//! - The architecture strings in `arches` are compared with the *native* architecture only, by
//!   moby's names ("amd64", "x86", "arm64", "arm", "ppc64le", "s390x", "riscv64", …): "x32" and
//!   "x86" never match on an x86_64 machine, even though x32 and x86 are in its architectures.
//! - The capability set is the bounding set of the container's process (Docker's default 14
//!   unless `--cap-add`/`--cap-drop`/`--privileged` change it).
//! - Kernel versions compare only `<kernel>.<major>` ("6.18.3-foo" is 6.18).
use std::collections::BTreeSet;

use super::{
    caps::default_capabilities,
    kernel::{parse_min_kernel, running_kernel, KernelVersionError},
    Profile, SyscallRule,
};
use crate::syscalls::{moby_arch_name, native_arch, Arch};

/// What a Docker profile is resolved for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// The native architecture (moby uses the architecture its own binary was built for).
    pub arch: Arch,
    /// `(kernel, major)`, e.g. `(6, 18)` for 6.18.3.
    pub kernel: (u32, u32),
    /// `CAP_…` names in the process's bounding set.
    pub capabilities: BTreeSet<String>,
}

impl Platform {
    /// This machine: the architecture this binary was built for (as moby uses `runtime.GOARCH`),
    /// the running kernel's version from `uname`, and `capabilities`, or Docker's
    /// [`super::caps::DEFAULT_CAPABILITIES`] when `None` — what `docker run` without `--cap-add`, `--cap-drop`
    /// or `--privileged` gives the container, and so what moby resolves its profile against.
    pub fn this_machine(capabilities: Option<BTreeSet<String>>) -> Result<Platform, ResolveError> {
        Ok(Platform {
            arch: native_arch().ok_or(ResolveError::UnknownNativeArch(std::env::consts::ARCH))?,
            kernel: running_kernel()?,
            capabilities: capabilities.unwrap_or_else(default_capabilities),
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("no seccomp architecture for this build's architecture {0:?}")]
    UnknownNativeArch(&'static str),
    #[error(transparent)]
    KernelVersion(#[from] KernelVersionError),
    #[error("syscalls[{rule}].{field}.minKernel: invalid kernel version {value:?}")]
    MinKernel {
        rule: usize,
        field: &'static str,
        value: String,
    },
    #[error("both \"architectures\" and \"archMap\" are set; use one")]
    ArchitecturesAndArchMap,
}

/// The profile as runc and crun must be given it for `target`: plain OCI, without `archMap`,
/// `includes`, `excludes` or `comment`, and only the rules that apply. A profile without
/// Docker fields comes back unchanged but for comments.
pub fn resolve(profile: &Profile, target: &Platform) -> Result<Profile, ResolveError> {
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(ResolveError::ArchitecturesAndArchMap);
    }
    let native = moby_arch_name(target.arch);
    let mut architectures = profile.architectures.clone();
    if let Some(entry) = profile
        .arch_map
        .iter()
        .find(|entry| entry.architecture == target.arch)
    {
        architectures.push(entry.architecture);
        architectures.extend(entry.sub_architectures.iter().copied());
    }
    let at_least = |rule: usize, field: &'static str, min: &str| {
        parse_min_kernel(min)
            .map(|min| target.kernel >= min)
            .ok_or_else(|| ResolveError::MinKernel {
                rule,
                field,
                value: min.to_owned(),
            })
    };
    let mut syscalls = Vec::new();
    for (i, rule) in profile.syscalls.iter().enumerate() {
        let ex = &rule.excludes;
        let excluded = ex.arches.iter().any(|a| a == native)
            || ex.caps.iter().any(|c| target.capabilities.contains(c))
            || match &ex.min_kernel {
                Some(min) => at_least(i, "excludes", min)?,
                None => false,
            };
        let inc = &rule.includes;
        let included = (inc.arches.is_empty() || inc.arches.iter().any(|a| a == native))
            && inc.caps.iter().all(|c| target.capabilities.contains(c))
            && match &inc.min_kernel {
                Some(min) => at_least(i, "includes", min)?,
                None => true,
            };
        if included && !excluded {
            syscalls.push(SyscallRule {
                names: rule.names.clone(),
                action: rule.action,
                errno_ret: rule.errno_ret,
                args: rule.args.clone(),
                ..SyscallRule::default()
            });
        }
    }
    Ok(Profile {
        default_action: profile.default_action,
        default_errno_ret: profile.default_errno_ret,
        architectures,
        arch_map: Vec::new(),
        flags: profile.flags.clone(),
        listener_path: profile.listener_path.clone(),
        listener_metadata: profile.listener_metadata.clone(),
        syscalls,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::{
        profile::{
            caps::{capability_name, ALL_CAPABILITIES, DEFAULT_CAPABILITIES},
            kernel::parse_kernel_version,
            names::{check_names, drop_names},
            parse, Action,
        },
        syscalls::{arch_from_any_name, arch_from_moby_name},
    };

    /// Copies of ../shared/reference (real profiles of the projects we interoperate with).
    const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

    fn moby(name: &str) -> (Profile, Value) {
        let text = std::fs::read_to_string(format!("{REFERENCE}/{name}")).unwrap();
        (
            parse(&text, name).unwrap().profile,
            serde_json::from_str(&text).unwrap(),
        )
    }

    fn target(arch: Arch, kernel: (u32, u32), caps: &[&str]) -> Platform {
        Platform {
            arch,
            kernel,
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn strings(value: &Value) -> Vec<&str> {
        value
            .as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap()).collect())
            .unwrap_or_default()
    }

    /// The expectation, straight from the JSON: indexes of the rules moby keeps.
    fn expected_rules(json: &Value, native: &str, kernel: (u32, u32), caps: &[&str]) -> Vec<usize> {
        let kernel_ok = |min: &Value| {
            let (a, b) = min.as_str().unwrap().split_once('.').unwrap();
            kernel >= (a.parse().unwrap(), b.parse().unwrap())
        };
        let mut kept = Vec::new();
        for (i, rule) in json["syscalls"].as_array().unwrap().iter().enumerate() {
            let (inc, exc) = (&rule["includes"], &rule["excludes"]);
            if strings(&exc["arches"]).contains(&native)
                || strings(&exc["caps"]).iter().any(|c| caps.contains(c))
                || (!exc["minKernel"].is_null() && kernel_ok(&exc["minKernel"]))
            {
                continue;
            }
            let arches = strings(&inc["arches"]);
            if (!arches.is_empty() && !arches.contains(&native))
                || !strings(&inc["caps"]).iter().all(|c| caps.contains(c))
                || (!inc["minKernel"].is_null() && !kernel_ok(&inc["minKernel"]))
            {
                continue;
            }
            kept.push(i);
        }
        kept
    }

    fn check_against_json(name: &str, arch: Arch, native: &str, kernel: (u32, u32), caps: &[&str]) {
        let (profile, json) = moby(name);
        let resolved = resolve(&profile, &target(arch, kernel, caps)).unwrap();
        let kept = expected_rules(&json, native, kernel, caps);
        assert_eq!(resolved.syscalls.len(), kept.len(), "{name} {native}");
        for (rule, &i) in resolved.syscalls.iter().zip(&kept) {
            let raw = &json["syscalls"][i];
            assert_eq!(rule.names, strings(&raw["names"]), "{name} rule {i}");
            assert_eq!(
                serde_json::to_value(rule.action).unwrap(),
                raw["action"],
                "{name} rule {i}"
            );
            assert_eq!(rule.errno_ret.map(u64::from), raw["errnoRet"].as_u64());
            assert_eq!(rule.args.len(), raw["args"].as_array().map_or(0, Vec::len));
            assert!(rule.includes.is_empty() && rule.excludes.is_empty() && rule.comment.is_none());
        }
        let entry = json["archMap"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["architecture"] == arch.scmp_name().as_str());
        let want: Vec<String> = entry
            .map(|e| {
                std::iter::once(e["architecture"].as_str().unwrap())
                    .chain(strings(&e["subArchitectures"]))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let got: Vec<String> = resolved
            .architectures
            .iter()
            .map(|a| a.scmp_name())
            .collect();
        assert_eq!(got, want, "{name} {native}");
        assert!(resolved.arch_map.is_empty() && !resolved.has_docker_fields());
        assert_eq!(resolved.default_errno_ret, Some(1));
    }

    #[test]
    fn moby_default_resolves_as_moby_does() {
        let all: Vec<&str> = ALL_CAPABILITIES.to_vec();
        for name in [
            "moby-default.json",
            "moby-moby-default-before-split-2025-07.json",
        ] {
            for (arch, native) in [
                (Arch::X86_64, "amd64"),
                (Arch::Aarch64, "arm64"),
                (Arch::S390x, "s390x"),
                (Arch::Riscv64, "riscv64"),
            ] {
                for kernel in [(4, 4), (4, 8), (6, 18)] {
                    check_against_json(name, arch, native, kernel, &DEFAULT_CAPABILITIES);
                    check_against_json(name, arch, native, kernel, &all);
                    check_against_json(name, arch, native, kernel, &[]);
                }
            }
        }
    }

    #[test]
    fn moby_default_for_x86_64_with_default_caps() {
        let (profile, _) = moby("moby-default.json");
        let resolved = resolve(
            &profile,
            &target(Arch::X86_64, (6, 18), &DEFAULT_CAPABILITIES),
        )
        .unwrap();
        assert_eq!(resolved.architectures, [Arch::X86_64, Arch::X86, Arch::X32]);
        let names = resolved.names();
        // Rules for amd64 (arch_prctl), the default caps (chroot), kernel ≥ 4.8 are in; those
        // for arm, s390, CAP_SYS_ADMIN are out.
        for name in ["arch_prctl", "modify_ldt", "chroot", "read", "personality"] {
            assert!(names.contains(name), "{name}");
        }
        for name in [
            "mount",
            "bpf",
            "arm_fadvise64_64",
            "s390_pci_mmio_read",
            "reboot",
        ] {
            assert!(!names.contains(name), "{name}");
        }
        // Without CAP_SYS_ADMIN, clone3 is refused with ENOSYS so glibc falls back to clone.
        let clone3 = resolved
            .syscalls
            .iter()
            .find(|r| r.names == ["clone3"])
            .unwrap();
        assert_eq!((clone3.action, clone3.errno_ret), (Action::Errno, Some(38)));
        // And the result checks clean against the x86 tables.
        let check = check_names(&resolved, Arch::X86_64);
        assert_eq!(check.checked, [Arch::X86_64, Arch::X86, Arch::X32]);
        assert_eq!(check.error(), None, "{check:?}");
        // moby lists a few names that exist only on other architectures.
        assert_eq!(check.elsewhere, ["recv", "riscv_hwprobe", "send"]);

        let with_admin =
            resolve(&profile, &target(Arch::X86_64, (6, 18), &["CAP_SYS_ADMIN"])).unwrap();
        assert!(with_admin.names().contains("mount"));
        assert!(!with_admin.syscalls.iter().any(|r| r.names == ["clone3"]));
    }

    #[test]
    fn plain_oci_passes_through() {
        let text = r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#;
        let profile = parse(text, "p.json").unwrap().profile;
        let resolved = resolve(&profile, &target(Arch::Aarch64, (5, 10), &[])).unwrap();
        assert_eq!(resolved, profile);
    }

    #[test]
    fn kernel_versions_read_like_moby() {
        assert_eq!(parse_kernel_version("6.18.3-amd64"), Some((6, 18)));
        assert_eq!(parse_kernel_version("3.12-1-amd64"), Some((3, 12)));
        assert_eq!(parse_kernel_version("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel_version("4"), None);
        assert_eq!(parse_kernel_version("x.y"), None);
        let here = running_kernel().unwrap();
        assert!(here >= (3, 0), "{here:?}");
    }

    #[test]
    fn names_from_the_command_line() {
        assert_eq!(arch_from_any_name("x86_64"), Some(Arch::X86_64));
        assert_eq!(arch_from_any_name("amd64"), Some(Arch::X86_64));
        assert_eq!(arch_from_any_name("SCMP_ARCH_X86"), Some(Arch::X86));
        assert_eq!(arch_from_any_name("i386"), Some(Arch::X86));
        assert_eq!(arch_from_any_name("arm64"), Some(Arch::Aarch64));
        assert_eq!(arch_from_any_name("vax"), None);
        assert_eq!(capability_name("sys_admin"), Some("CAP_SYS_ADMIN"));
        assert_eq!(capability_name("CAP_BPF"), Some("CAP_BPF"));
        assert_eq!(capability_name("CAP_NOPE"), None);
        assert_eq!(arch_from_moby_name("amd64"), Some(Arch::X86_64));
        assert_eq!(arch_from_moby_name("x86_64"), None);
    }

    fn oci(architectures: &str, names: &str) -> Profile {
        let text = format!(
            r#"{{"defaultAction": "SCMP_ACT_ERRNO", "architectures": [{architectures}],
                "syscalls": [{{"names": [{names}], "action": "SCMP_ACT_ALLOW"}},
                             {{"names": ["foo"], "action": "SCMP_ACT_LOG"}}]}}"#
        );
        parse(&text, "n.json").unwrap().profile
    }

    #[test]
    fn unknown_names_are_those_no_listed_table_knows() {
        let p = oci(r#""SCMP_ARCH_X86_64""#, r#""read", "bar", "socketcall""#);
        let check = check_names(&p, Arch::X86_64);
        assert_eq!(check.unknown, ["bar", "foo"]);
        // i386 only: does nothing on x86_64, but is no typo.
        assert_eq!(check.elsewhere, ["socketcall"]);
        assert_eq!(
            check.error().unwrap().to_string(),
            "unknown syscall names: bar, foo (not in x86_64's table)"
        );
        // socketcall exists on i386: with x86 listed, libseccomp adds it there.
        let p = oci(
            r#""SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32""#,
            r#""read", "bar", "socketcall""#,
        );
        let err = check_names(&p, Arch::X86_64).error().unwrap();
        assert_eq!(
            err.to_string(),
            "unknown syscall names: bar, foo (not in the x86_64, i386 or x32 tables)"
        );
        // No architectures: the native one's table.
        let p = oci("", r#""read""#);
        assert_eq!(check_names(&p, Arch::Aarch64).checked, [Arch::Aarch64]);
        // arm's names come from the syscalls crate's table.
        let p = oci(
            r#""SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM""#,
            r#""arm_fadvise64_64""#,
        );
        let check = check_names(&p, Arch::Aarch64);
        assert_eq!(check.unknown, ["foo"]);
        assert_eq!(check.checked, [Arch::Aarch64, Arch::Arm]);
        // An architecture without any table here: only a suspicion, not an error.
        let p = oci(r#""SCMP_ARCH_X86_64", "SCMP_ARCH_PARISC""#, r#""read""#);
        let check = check_names(&p, Arch::X86_64);
        assert_eq!(check.unknown, ["foo"]);
        assert_eq!(check.unchecked, [Arch::Parisc]);
        assert_eq!(check.error(), None);

        let mut p = oci(r#""SCMP_ARCH_X86_64""#, r#""read", "bar""#);
        drop_names(&mut p, &["bar".to_owned(), "foo".to_owned()]);
        assert_eq!(p.syscalls.len(), 1);
        assert_eq!(p.syscalls[0].names, ["read"]);
    }

    #[test]
    fn reference_profiles_name_only_known_syscalls_on_every_architecture() {
        let mut files = vec![
            format!("{REFERENCE}/moby-default.json"),
            format!("{REFERENCE}/moby-moby-default-before-split-2025-07.json"),
        ];
        if std::path::Path::new("/usr/share/containers/seccomp.json").exists() {
            files.push("/usr/share/containers/seccomp.json".to_owned());
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let profile = parse(&text, &file).unwrap().profile;
            for entry in &profile.arch_map {
                let t = target(entry.architecture, (6, 18), &ALL_CAPABILITIES);
                let resolved = resolve(&profile, &t).unwrap();
                let check = check_names(&resolved, t.arch);
                assert_eq!(check.unknown, Vec::<String>::new(), "{file} {}", t.arch);
            }
        }
    }

    #[test]
    fn this_machine_has_default_caps() {
        let here = Platform::this_machine(None).unwrap();
        assert_eq!(here.capabilities.len(), 14);
        assert_eq!(Some(here.arch), native_arch());
    }
}
