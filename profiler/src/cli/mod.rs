//! Command-line definitions, one file per subcommand.
pub mod audit;
pub mod check;
pub mod compile;
pub mod completions;
pub mod daemon;
pub mod diff;
pub mod export;
pub mod hook;
pub mod install;
pub mod merge;
pub mod promote;
pub mod record;
pub mod report;
pub mod run;
pub mod stage;
pub mod status;
pub mod syscalls;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "profile",
    version,
    about = "Learn the syscalls a program makes and turn them into seccomp profiles"
)]
pub struct Cli {
    /// More output: -v progress, -vv debug lines of profile and its eBPF programs, -vvv everything (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    Record(record::RecordArgs),
    Run(run::RunArgs),
    Compile(compile::CompileArgs),
    Check(check::CheckArgs),
    Export(export::ExportArgs),
    Install(install::InstallArgs),
    Hook(hook::HookArgs),
    Stage(stage::StageArgs),
    Merge(merge::MergeArgs),
    Diff(diff::DiffArgs),
    Promote(promote::PromoteArgs),
    Audit(audit::AuditArgs),
    Syscalls(syscalls::SyscallsArgs),
    Report(report::ReportArgs),
    Daemon(daemon::DaemonArgs),
    Status(status::StatusArgs),
    Completions(completions::CompletionsArgs),
    #[command(hide = true)]
    Man(completions::ManArgs),
}
