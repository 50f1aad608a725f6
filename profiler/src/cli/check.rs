use std::{collections::BTreeSet, path::PathBuf};

use clap::Args;
use profiler::{
    profile::{
        self,
        caps::{self, capability_name},
        kernel::parse_kernel_version,
        names, ops,
        runtimes::{self, Logging, Runtime},
        NameCheck, Parsed, Platform, Profile,
    },
    seccomp::{divergence::divergences, CompileError},
    syscalls::{arch_from_any_name, Arch},
};

/// Validate a seccomp profile in any dialect (OCI, Docker, containers/podman) and explain what is
/// wrong with it.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile check app.json
  profile check /usr/share/containers/seccomp.json --cap default --cap sys_admin
  profile check moby-default.json --arch aarch64 --kernel 5.10

Docker-only conditions (archMap, includes/excludes) are resolved as moby resolves them, for this
machine's architecture and kernel and Docker's 14 default capabilities unless --arch, --kernel or
--cap say otherwise. It warns for each syscall where runc, crun and podman (which enforce through
libseccomp) would decide a call otherwise than the profile says, with the call, both decisions
and why (docs/profiles.md). A profile with `flags` gets a warning: runc 1.1 (Debian 12's, and
podman, containerd or the kubelet on it) refuses it. --runtime says whether the calls the profile
denies reach the audit stream under that runtime (the kernel logs ERRNO, TRAP and TRACE denials
only under SECCOMP_FILTER_FLAG_LOG, which run (`profile run`) always adds, crun and runc-1.2
take from `flags`, and runc refuses): a warning when they do not, an error when the runtime
refuses the profile. Exit status: 0 valid, 2 invalid (also when libseccomp, or the --runtime,
would refuse the profile).")]
pub struct CheckArgs {
    /// The profile (a bare seccomp object, or an OCI config.json with linux.seccomp).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    target: TargetArgs,
    /// The runtime the profile is for: run, runc (1.1), runc-1.2 or crun.
    #[arg(long, value_name = "RUNTIME", value_parser = parse_runtime)]
    runtime: Option<Runtime>,
}

pub(super) fn parse_runtime(text: &str) -> Result<Runtime, String> {
    Runtime::from_arg(text).ok_or_else(|| {
        let known: Vec<&str> = Runtime::ALL.iter().map(|r| r.arg()).collect();
        format!("unknown runtime {text:?} ({})", known.join(", "))
    })
}

/// Whether `runtime` logs the calls `profile` denies: info when it does, a warning when not,
/// `Err` when it refuses the profile. Without a runtime, only what runc 1.1 refuses is said.
pub(super) fn denial_logging(
    profile: &Profile,
    runtime: Option<Runtime>,
    source: &str,
) -> Result<(), String> {
    let Some(runtime) = runtime else {
        if runtimes::logging(profile, Runtime::Runc) == Logging::Refused {
            log::warn!(
                "{source}: {}",
                runtimes::describe(Runtime::Runc, &Logging::Refused)
            );
        }
        return Ok(());
    };
    let logging = runtimes::logging(profile, runtime);
    let line = format!(
        "{source}: denials under {}",
        runtimes::describe(runtime, &logging)
    );
    match logging {
        Logging::Refused => Err(line),
        Logging::NotLogged(_) => {
            log::warn!("{line}");
            Ok(())
        }
        Logging::Logged | Logging::NothingDenied => {
            log::info!("{line}");
            Ok(())
        }
    }
}

/// Who the profile is resolved for, shared by `check` and `export`; the default is this machine.
#[derive(Args, Default)]
pub struct TargetArgs {
    /// Drop syscall names no table knows, with a warning, instead of failing (runc and crun drop
    /// them silently, which turns an allow into a deny).
    #[arg(long)]
    pub allow_unknown: bool,
    /// Native architecture to resolve for: x86_64, i386, aarch64, arm, s390x, … (default: this
    /// machine's).
    #[arg(long, value_name = "ARCH", value_parser = parse_arch)]
    pub arch: Option<Arch>,
    /// Kernel version to resolve minKernel against, as X.Y (default: the running kernel's).
    #[arg(long, value_name = "X.Y", value_parser = parse_kernel)]
    pub kernel: Option<(u32, u32)>,
    /// Capabilities of the process (CAP_SYS_ADMIN or sys_admin; `default` for Docker's 14, `all`
    /// for --privileged); repeat or separate with commas. Default: Docker's 14.
    #[arg(long = "cap", value_name = "CAP", value_delimiter = ',', value_parser = parse_cap)]
    pub caps: Vec<CapChoice>,
}

#[derive(Clone, Debug)]
pub enum CapChoice {
    Default,
    All,
    One(&'static str),
}

fn parse_arch(text: &str) -> Result<Arch, String> {
    arch_from_any_name(text).ok_or_else(|| format!("unknown architecture {text:?}"))
}

fn parse_kernel(text: &str) -> Result<(u32, u32), String> {
    match parse_kernel_version(text) {
        Some(version) if !text.ends_with('.') => Ok(version),
        _ => Err(format!("{text:?} is not a kernel version such as 6.1")),
    }
}

fn parse_cap(text: &str) -> Result<CapChoice, String> {
    match text.to_ascii_lowercase().as_str() {
        "default" => Ok(CapChoice::Default),
        "all" => Ok(CapChoice::All),
        _ => capability_name(text)
            .map(CapChoice::One)
            .ok_or_else(|| format!("unknown capability {text:?}")),
    }
}

impl TargetArgs {
    pub fn target(&self) -> anyhow::Result<Platform> {
        let caps = (!self.caps.is_empty()).then(|| {
            let mut set = BTreeSet::new();
            for choice in &self.caps {
                match choice {
                    CapChoice::Default => set.extend(caps::default_capabilities()),
                    CapChoice::All => {
                        set.extend(caps::ALL_CAPABILITIES.iter().map(|c| c.to_string()))
                    }
                    CapChoice::One(cap) => {
                        set.insert(cap.to_string());
                    }
                }
            }
            set
        });
        let mut target = match (self.arch, self.kernel) {
            (Some(arch), Some(kernel)) => Platform {
                arch,
                kernel,
                capabilities: caps.clone().unwrap_or_else(caps::default_capabilities),
            },
            _ => Platform::this_machine(caps)?,
        };
        if let Some(arch) = self.arch {
            target.arch = arch;
        }
        if let Some(kernel) = self.kernel {
            target.kernel = kernel;
        }
        Ok(target)
    }
}

/// A profile read, validated and resolved, or the message explaining why not.
pub struct Checked {
    pub parsed: Parsed,
    pub target: Platform,
    /// Plain OCI for the target, unknown names dropped when allowed.
    pub resolved: Profile,
    pub names: NameCheck,
}

/// Reads, parses, resolves and checks names; prints warnings. `Err` carries the whole message.
pub fn load(file: &std::path::Path, args: &TargetArgs) -> Result<Checked, String> {
    let source = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|err| format!("reading {source}: {err}"))?;
    let parsed = profile::parse(&text, &source).map_err(|err| err.to_string())?;
    for warning in &parsed.warnings {
        log::warn!("{warning}");
    }
    let target = args.target().map_err(|err| format!("{err:#}"))?;
    let mut resolved =
        profile::resolve(&parsed.profile, &target).map_err(|err| format!("{source}: {err}"))?;
    let names = profile::check_names(&resolved, target.arch);
    if !names.elsewhere.is_empty() {
        log::info!(
            "{source}: {} exist only on other architectures: no effect on {}",
            names.elsewhere.join(", "),
            arch_list(&names.checked)
        );
    }
    if !names.unchecked.is_empty() && !names.unknown.is_empty() {
        log::warn!(
            "{source}: {} not in any table we have; {} have no table here, so they may exist there",
            names.unknown.join(", "),
            arch_list(&names.unchecked)
        );
    }
    if let Some(err) = names.error() {
        if !args.allow_unknown {
            return Err(format!(
                "{source}: {err}; fix the names or pass --allow-unknown to drop them"
            ));
        }
        log::warn!("{source}: {err}: dropped (--allow-unknown)");
        names::drop_names(&mut resolved, &err.names);
    }
    Ok(Checked {
        parsed,
        target,
        resolved,
        names,
    })
}

fn arch_list(arches: &[Arch]) -> String {
    arches
        .iter()
        .map(|a| a.short_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line: dialect, architectures, rules, names; and what resolution kept.
pub fn describe(checked: &Checked) -> String {
    let profile = &checked.parsed.profile;
    let resolved = &checked.resolved;
    let dialect = match checked.parsed.embedded {
        Some(what) => format!("{} ({what})", checked.parsed.dialect),
        None => checked.parsed.dialect.to_string(),
    };

    let arches = if !profile.arch_map.is_empty() {
        format!("archMap for {} architectures", profile.arch_map.len())
    } else if profile.architectures.is_empty() {
        "native architecture only".to_owned()
    } else {
        format!("architectures {}", arch_list(&profile.architectures))
    };
    let mut line = format!(
        "valid {dialect} profile, default {}, {arches}, {} rules, {} names",
        ops::Verdict {
            action: profile.default_action,
            errno_ret: profile.default_errno_ret,
        },
        profile.syscalls.len(),
        profile.names().len()
    );
    if profile.has_docker_fields() {
        let t = &checked.target;
        line.push_str(&format!(
            "; for {} (kernel {}.{}, {} capabilities): {}, {} rules, {} names",
            t.arch,
            t.kernel.0,
            t.kernel.1,
            t.capabilities.len(),
            if resolved.architectures.is_empty() {
                "native architecture only".to_owned()
            } else {
                arch_list(&resolved.architectures)
            },
            resolved.syscalls.len(),
            resolved.names().len()
        ));
    }
    let dropped = checked.names.error().map_or(0, |err| err.names.len());
    if dropped > 0 {
        line.push_str(&format!("; {dropped} unknown names dropped"));
    }
    line
}

/// Warns where runc, crun and podman (all through libseccomp) would enforce the profile
/// differently from what it says; `Err` when they would refuse it.
pub fn runtime_differences(checked: &Checked, source: &str) -> Result<(), String> {
    match divergences(&checked.resolved, checked.target.arch) {
        Ok(found) => {
            for divergence in found {
                log::warn!("{source}: {divergence}");
            }
            Ok(())
        }
        Err(err @ (CompileError::Rule { .. } | CompileError::Errno(_))) => Err(format!(
            "{source}: runc, crun and podman (libseccomp) refuse this profile: {err}"
        )),
        Err(err) => {
            log::info!("{source}: not compared with libseccomp's enforcement: {err}");
            Ok(())
        }
    }
}

pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let source = args.file.display().to_string();
    let checked = load(&args.file, &args.target).and_then(|checked| {
        runtime_differences(&checked, &source)?;
        denial_logging(&checked.resolved, args.runtime, &source)?;
        Ok(checked)
    });
    match checked {
        Ok(checked) => {
            profiler::output::emit(
                None,
                &format!("{}: {}\n", args.file.display(), describe(&checked)),
            )?;
            Ok(0)
        }
        Err(message) => {
            log::error!("{message}");
            Ok(2)
        }
    }
}
