use std::{
    os::unix::fs::{DirBuilderExt as _, PermissionsExt as _},
    path::PathBuf,
};

use anyhow::Context as _;
use clap::Args;
use profiler::profile::k8s;

use super::{
    check::{load, TargetArgs},
    export::default_name,
};

/// Install a profile on this node for the kubelet: writes it, resolved for this machine and in
/// the form runc and crun take, as <kubelet-dir>/profiles/NAME.json, and prints the Pod snippet
/// that uses it.
#[derive(Args)]
#[command(after_help = "\
Examples:
  sudo profile install web.json --name web
  sudo profile install web.json --name web --kubelet-dir /var/lib/k0s/kubelet/seccomp --yaml

The profile (any dialect) is checked and resolved as `profile export --format kubelet` does
(Docker conditions for this machine unless --arch, --kernel or --cap say otherwise; `flags`
dropped, as runc 1.1 refuses them, unless --log-denials keeps them and adds
SECCOMP_FILTER_FLAG_LOG for a node whose runtime is crun or runc 1.2), then written atomically with mode 0644; profiles/ is created when
missing. NAME may not contain '/', '..' or NUL; `.json` is added unless it ends so. Prints the
securityContext to put in the Pod's or a container's spec (localhostProfile is relative to the
kubelet's seccomp dir). Exit status: 0 installed, 2 invalid input.")]
pub struct InstallArgs {
    /// The profile to install (any dialect).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The profile's name on the node: profiles/NAME.json. Default: FILE's name without .json.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The kubelet's seccomp profile root (<kubelet root-dir>/seccomp).
    #[arg(long, value_name = "DIR", default_value = k8s::KUBELET_SECCOMP_DIR)]
    kubelet_dir: PathBuf,
    /// Print the Pod snippet as YAML instead of JSON.
    #[arg(long)]
    yaml: bool,
    /// Keep `flags` and add SECCOMP_FILTER_FLAG_LOG: the node's runtime (crun, runc 1.2) logs
    /// every denial; runc 1.1 refuses such a profile.
    #[arg(long)]
    log_denials: bool,
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: InstallArgs) -> anyhow::Result<i32> {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_name(&args.file));
    let (file_name, localhost) =
        match k8s::profile_file_name(&name).and_then(|f| Ok((f, k8s::localhost_profile(&name)?))) {
            Ok(both) => both,
            Err(err) => {
                log::error!("{err}; choose another with --name");
                return Ok(2);
            }
        };
    let checked = load(&args.file, &args.target).map_err(anyhow::Error::msg)?;
    let flags = k8s::Flags::log_denials_if(args.log_denials);
    let (profile, warnings) = k8s::for_runtime(&checked.resolved, flags);
    for warning in warnings {
        log::warn!("{}: {warning}", args.file.display());
    }

    let dir = args.kubelet_dir.join(k8s::PROFILES_SUBDIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(&file_name);
    profiler::output::write_atomic(&path, profile.to_canonical_json().as_bytes())?;
    // The temporary file was created 0644 less the umask; the kubelet's runtime reads it as root,
    // but other tools on the node may not.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    if log::log_enabled!(log::Level::Warn) {
        eprintln!(
            "profile: installed {}; localhostProfile: {localhost}",
            path.display()
        );
    }
    let snippet = k8s::pod_snippet(&localhost);
    let text = if args.yaml {
        profiler::output::yaml::to_yaml(&snippet)
    } else {
        snippet.to_json()
    };
    profiler::output::emit(None, &text)?;
    Ok(0)
}
