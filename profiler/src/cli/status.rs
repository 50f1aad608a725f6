use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use profiler::daemon::control;

use super::daemon::CONTROL_SOCKET;

/// Show what a running `profile daemon` tracks: cgroups, workloads, syscalls, flushes, write
/// errors, kernel map fullness and losses, from its control socket.
#[derive(Args)]
#[command(after_help = "\
Examples:
  sudo profile status
  sudo profile status --json
  sudo profile status --control-socket /run/profile/test.sock

Exit status: 0 when the daemon answered, 2 when it could not be reached.")]
pub struct StatusArgs {
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH", default_value = CONTROL_SOCKET)]
    control_socket: PathBuf,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs) -> anyhow::Result<i32> {
    let status = control::query(&args.control_socket).with_context(|| {
        format!(
            "asking the daemon through {} (is `profile daemon` running?)",
            args.control_socket.display()
        )
    })?;
    let text = if args.json {
        serde_json::to_string_pretty(&status).expect("status serialises") + "\n"
    } else {
        status.to_text()
    };
    profiler::output::emit(None, &text)?;
    Ok(0)
}
