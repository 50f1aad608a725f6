use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use profiler::profile::k8s;

use super::check::{load, TargetArgs};

/// Write a profile back out in canonical form for a runtime or for Kubernetes: plain OCI resolved
/// for a target (runc, crun), the Docker form, a Security Profiles Operator SeccompProfile
/// resource, or the kubelet's Localhost profile file with the Pod snippet that uses it.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile export moby-default.json -o runc-seccomp.json
  profile export moby-default.json --arch aarch64 --kernel 6.1 --cap default,sys_admin
  profile export --format docker /usr/share/containers/seccomp.json -o podman.json
  profile export web.json --format spo --name web --yaml -o web-sp.yaml
  profile export web.json --format kubelet --name web -o web.json --pod-snippet pod.json

oci resolves archMap and includes/excludes as moby does (runc and crun silently ignore those
fields) for this machine unless --arch, --kernel or --cap say otherwise; docker keeps them. spo and
kubelet are resolved the same way. oci, kubelet and spo drop `flags` (runc 1.1, Debian 12's, and
podman, containerd or the kubelet on it, refuse a profile with any), unless --log-denials keeps
them and adds SECCOMP_FILTER_FLAG_LOG, for crun and runc 1.2, which then log every call the
profile denies (without it only KILL actions are logged; `profile daemon` sees the others all
the same). spo cannot carry defaultErrnoRet (the CRD has no such field; runtimes then return EPERM), and says
so. kubelet writes the profile file (JSON, what the kubelet reads) and prints on stderr, or writes
to --pod-snippet, the securityContext that uses it once installed as profiles/NAME.json under the
kubelet's seccomp dir (see `profile install`). --yaml writes the spo resource or the Pod snippet
as YAML. Output is canonical (names sorted within rules, fixed field order): exporting twice
gives the same bytes. Exit status: 0 written, 2 invalid input.")]
pub struct ExportArgs {
    /// The profile to read (any dialect).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[arg(long, value_enum, default_value_t = ExportFormat::Oci)]
    format: ExportFormat,
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// spo: the resource's metadata.name (a DNS-1123 subdomain); kubelet: the profile is
    /// profiles/NAME.json. Default: FILE's name without .json.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// spo: the resource as YAML; kubelet: the Pod snippet as YAML (the profile file stays JSON).
    #[arg(long)]
    yaml: bool,
    /// kubelet: write the Pod's securityContext snippet here (atomically) instead of stderr.
    #[arg(long, value_name = "SNIPPET")]
    pod_snippet: Option<PathBuf>,
    /// oci, spo, kubelet: keep `flags` and add SECCOMP_FILTER_FLAG_LOG, so that crun and runc
    /// 1.2 log every denial (runc 1.1 refuses such a profile).
    #[arg(long)]
    log_denials: bool,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    /// Plain OCI linux.seccomp, resolved for the target.
    Oci,
    /// The Docker/moby dialect, conditions kept (containers' errno names become numbers).
    Docker,
    /// A Security Profiles Operator SeccompProfile resource (security-profiles-operator.x-k8s.io/v1).
    Spo,
    /// The kubelet's Localhost profile file (plain OCI) and the Pod snippet that uses it.
    Kubelet,
}

/// The name a profile goes by when `--name` is not given: the file's name without `.json`.
pub fn default_name(file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(".json").unwrap_or(&name).to_owned()
}

/// What is wrong with the option combination, if anything.
fn misuse(args: &ExportArgs) -> Option<&'static str> {
    let k8s = matches!(args.format, ExportFormat::Spo | ExportFormat::Kubelet);
    if args.name.is_some() && !k8s {
        return Some("--name applies to --format spo and kubelet");
    }
    if args.yaml && !k8s {
        return Some("--yaml applies to --format spo and kubelet (runtimes read JSON)");
    }
    if args.pod_snippet.is_some() && args.format != ExportFormat::Kubelet {
        return Some("--pod-snippet applies to --format kubelet");
    }
    if args.log_denials && args.format == ExportFormat::Docker {
        return Some("--log-denials applies to --format oci, spo and kubelet (docker keeps flags)");
    }
    None
}

pub fn run(args: ExportArgs) -> anyhow::Result<i32> {
    if let Some(message) = misuse(&args) {
        log::error!("{message}");
        return Ok(2);
    }
    let checked = load(&args.file, &args.target).map_err(anyhow::Error::msg)?;
    let name = || {
        args.name
            .clone()
            .unwrap_or_else(|| default_name(&args.file))
    };
    let flags = k8s::Flags::log_denials_if(args.log_denials);
    let runtime_bound = |warnings: Vec<String>| {
        for warning in warnings {
            log::warn!("{}: {warning}", args.file.display());
        }
    };
    let text = match args.format {
        ExportFormat::Oci => {
            let (profile, warnings) = k8s::for_runtime(&checked.resolved, flags);
            runtime_bound(warnings);
            profile.to_canonical_json()
        }
        // The Docker form serves every architecture, so names unknown to this target's tables
        // stay: they may be another architecture's. Docker accepts flags.
        ExportFormat::Docker => checked.parsed.profile.to_canonical_json(),
        ExportFormat::Spo => {
            let mut canonical = checked.resolved.clone();
            canonical.canonicalize();
            match k8s::spo_resource(&canonical, &name(), flags) {
                Ok((resource, warnings)) => {
                    runtime_bound(warnings);
                    if args.yaml {
                        profiler::output::yaml::to_yaml(&resource)
                    } else {
                        resource.to_json()
                    }
                }
                Err(err @ k8s::K8sError::ResourceName { .. }) => {
                    log::error!("{err}; choose one with --name");
                    return Ok(2);
                }
                Err(err) => {
                    log::error!("{}: {err}", args.file.display());
                    return Ok(2);
                }
            }
        }
        ExportFormat::Kubelet => {
            let name = name();
            let (file_name, localhost) = match k8s::profile_file_name(&name)
                .and_then(|f| Ok((f, k8s::localhost_profile(&name)?)))
            {
                Ok(both) => both,
                Err(err) => {
                    log::error!("{err}; choose one with --name");
                    return Ok(2);
                }
            };
            let (profile, warnings) = k8s::for_runtime(&checked.resolved, flags);
            runtime_bound(warnings);
            let snippet = k8s::pod_snippet(&localhost);
            let snippet = if args.yaml {
                profiler::output::yaml::to_yaml(&snippet)
            } else {
                snippet.to_json()
            };
            let text = profile.to_canonical_json();
            profiler::output::emit(args.output.as_deref(), &text)?;
            match &args.pod_snippet {
                Some(path) => profiler::output::write_atomic(path, snippet.as_bytes())?,
                None if log::log_enabled!(log::Level::Warn) => {
                    eprint!("{}", k8s::kubelet_hint(&file_name, &snippet));
                }
                None => {}
            }
            return Ok(0);
        }
    };
    profiler::output::emit(args.output.as_deref(), &text)?;
    Ok(0)
}
