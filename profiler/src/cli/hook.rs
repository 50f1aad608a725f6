use std::{
    io::Read as _,
    os::fd::OwnedFd,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use profiler::{
    output::recording::Format,
    profile::learn::DefaultAction,
    record::{
        hook::{self, Request},
        record_target, Destination, RecordOptions, Target, TargetOptions,
    },
    sys::{self, Forked, Signals},
};

use super::merge::{load_all, merge_loaded};

/// Record a container from its first instruction, as an OCI hook (podman, CRI-O), for every
/// container run with the annotation io.containers.trace-syscall=of:PATH (oci-seccomp-bpf-hook's).
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile hook install                                 # /etc/containers/oci/hooks.d
  podman run --annotation io.containers.trace-syscall=of:/tmp/web.json web-image
  podman run --annotation io.containers.trace-syscall='if:/tmp/base.json;of:/tmp/web.json' …
  podman run --security-opt seccomp=/tmp/web.json web-image

Run by the runtime at prestart with the container's state on stdin, it starts a recorder of the
container's cgroup and returns once the recorder counts; the container then starts. When the
container stops, the profile goes to the `of:` path, with the `if:` profile merged in. A
container with a seccomp filter (podman's default profile, or a permissive SCMP_ACT_LOG one
while learning) is counted from where its runtime installs the filter on: the runtime's last
steps and the whole workload, which is what the container needs to start under the profile.
One without a filter is counted from the hook on, its runtime's set-up included. Run a
`podman exec` while recording to include what exec needs. The recorder logs to
/run/profile/hooks/ID.log.

Exit status: 0 recording (or nothing asked), 1 the recorder did not start (the runtime then
fails the container), 2 invalid input.")]
pub struct HookArgs {
    #[command(subcommand)]
    action: Option<HookAction>,
}

#[derive(Subcommand)]
enum HookAction {
    /// Write the hooks.d entry (oci-hooks(5)) that runs this binary as the hook.
    Install {
        /// The hooks directory podman and CRI-O read.
        #[arg(
            long,
            value_name = "DIR",
            default_value = "/etc/containers/oci/hooks.d"
        )]
        hooks_dir: PathBuf,
        /// The OCI stage to run at.
        #[arg(long, value_parser = ["prestart", "createRuntime"], default_value = "prestart")]
        stage: String,
    },
}

/// How long the runtime waits for the recorder: loading the programs takes tens of
/// milliseconds; oci-seccomp-bpf-hook gives up after 10 s too.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const LOG_DIR: &str = "/run/profile/hooks";
const ENTRY_NAME: &str = "profile-trace-syscall.json";

pub fn run(args: HookArgs) -> anyhow::Result<i32> {
    match args.action {
        Some(HookAction::Install { hooks_dir, stage }) => install(&hooks_dir, &stage),
        None => run_hook(),
    }
}

fn install(hooks_dir: &Path, stage: &str) -> anyhow::Result<i32> {
    let binary = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .context("finding this binary")?;
    std::fs::create_dir_all(hooks_dir)
        .with_context(|| format!("creating {}", hooks_dir.display()))?;
    let path = hooks_dir.join(ENTRY_NAME);
    profiler::output::write_atomic(&path, hook::hooks_d_entry(&binary, stage).as_bytes())?;
    profiler::output::notice(&format!(
        "wrote {}: containers run with --annotation {}=of:PATH are recorded to PATH",
        path.display(),
        hook::ANNOTATION
    ));
    Ok(0)
}

fn run_hook() -> anyhow::Result<i32> {
    let mut state = String::new();
    std::io::stdin()
        .take(1 << 20)
        .read_to_string(&mut state)
        .context("reading the container state from stdin")?;
    let Some(request) = hook::request(&state)? else {
        return Ok(0);
    };
    std::fs::create_dir_all(LOG_DIR).with_context(|| format!("creating {LOG_DIR}"))?;
    let log = PathBuf::from(LOG_DIR).join(format!("{}.log", request.id));
    let (read, write) = sys::pipe().context("creating the readiness pipe")?;
    // Still one thread here: no runtime, no logger thread.
    match sys::fork_detached(&log, write).context("starting the recorder")? {
        Forked::Child(ready) => {
            // fork_detached closed every descriptor but `ready`: the number `read` held may
            // be `ready`'s now.
            std::mem::forget(read);
            std::process::exit(record(request, ready));
        }
        Forked::Parent(pid) => {
            if sys::wait_for_byte(&read, READY_TIMEOUT) {
                return Ok(0);
            }
            sys::send_signal(pid, libc::SIGKILL);
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            log::error!(
                "the recorder for container {} did not start: {}",
                request.id,
                said.lines().last().unwrap_or("it said nothing")
            );
            Ok(1)
        }
    }
}

/// The recorder, in the detached child: returns its exit status.
fn record(request: Request, ready: OwnedFd) -> i32 {
    let result = (|| -> anyhow::Result<()> {
        let signals = Signals::block().context("blocking signals")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        log::info!(
            "container {}: recording cgroup {} into {}",
            request.id,
            request.cgroup.display(),
            request.trace.output.display()
        );
        let options = TargetOptions {
            target: Target::Cgroup(request.cgroup.clone()),
            duration: None,
            ready: Some(ready),
            record: RecordOptions {
                output: Destination::File(request.trace.output.clone()),
                format: Format::Oci,
                profile: DefaultAction::Errno(1).into(),
                after_seccomp: request.after_seccomp,
                args: false,
            },
        };
        runtime
            .block_on(record_target(&options, signals))
            .context("recording")?;
        if let Some(input) = &request.trace.input {
            let files = [input.clone(), request.trace.output.clone()];
            let loaded = load_all(&files, &super::check::TargetArgs::default())
                .context("merging the if: profile")?;
            let merged = merge_loaded(&loaded, |_| true)?;
            profiler::output::write_atomic(
                &request.trace.output,
                merged.to_canonical_json().as_bytes(),
            )?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => 0,
        Err(err) => {
            log::error!(
                "container {}: {}",
                request.id,
                profiler::output::error_text(err.chain())
            );
            1
        }
    }
}
