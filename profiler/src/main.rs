mod cli;

use std::{io::Write as _, process::ExitCode};

use clap::Parser as _;
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Record(args) => cli::record::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::Compile(args) => cli::compile::run(args),
        Command::Check(args) => cli::check::run(args),
        Command::Export(args) => cli::export::run(args),
        Command::Install(args) => cli::install::run(args),
        Command::Hook(args) => cli::hook::run(args),
        Command::Stage(args) => cli::stage::run(args),
        Command::Merge(args) => cli::merge::run(args),
        Command::Diff(args) => cli::diff::run(args),
        Command::Promote(args) => cli::promote::run(args),
        Command::Audit(args) => cli::audit::run(args),
        Command::Syscalls(args) => cli::syscalls::run(args),
        Command::Report(args) => cli::report::run(args),
        Command::Daemon(args) => cli::daemon::run(args),
        Command::Status(args) => cli::status::run(args),
        Command::Completions(args) => cli::completions::run(args),
        Command::Man(args) => cli::completions::run_man(args),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        // The reader of stdout went away (`profile status | head -c1`): quiet, as a program
        // killed by SIGPIPE would be.
        Err(err)
            if err.chain().any(|cause| {
                cause
                    .downcast_ref::<profiler::output::WriteError>()
                    .is_some_and(profiler::output::WriteError::is_broken_pipe)
            }) =>
        {
            ExitCode::from(128 + libc::SIGPIPE as u8)
        }
        Err(err) => {
            log::error!("{}", profiler::output::error_text(err.chain()));
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let (ours, others) = match (quiet, verbose) {
        (true, _) => (log::LevelFilter::Error, log::LevelFilter::Error),
        (false, 0) => (log::LevelFilter::Warn, log::LevelFilter::Warn),
        (false, 1) => (log::LevelFilter::Info, log::LevelFilter::Warn),
        // Our own and the eBPF programs' debug lines, without aya's loader internals.
        (false, 2) => (log::LevelFilter::Debug, log::LevelFilter::Warn),
        (false, _) => (log::LevelFilter::Debug, log::LevelFilter::Debug),
    };
    env_logger::Builder::new()
        .filter_level(others)
        .filter_module("profile", ours)
        .filter_module("profiler", ours)
        .parse_env("RUST_LOG")
        .format(|buf, record| {
            // Messages carry names from profiles, audit records and cgroups: one line each,
            // whatever those contain.
            writeln!(
                buf,
                "profile: {}: {}",
                record.level().as_str().to_lowercase(),
                profiler::output::escape(&record.args().to_string())
            )
        })
        .init();
}
