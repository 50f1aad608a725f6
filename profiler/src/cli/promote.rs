use std::path::PathBuf;

use clap::{Args, ValueEnum};
use profiler::{
    profile::{
        ops::{self, ConflictKind, Enforce},
        Action,
    },
    syscalls::{native_arch, Arch},
};

use super::{check::TargetArgs, merge};

/// Promote a staged profile to enforcement: default SCMP_ACT_LOG becomes SCMP_ACT_ERRNO (or
/// SCMP_ACT_KILL_PROCESS), optionally after folding in audit findings.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile promote web.log.json -o web.json
  profile promote web.log.json --with seen.json -o web.json
  profile promote web.log.json --action kill -o web.json
  profile promote web.log.json --errno 38 -o web.json
  profile promote web.log.json --allow-group @sync,@io-event -o web.json

--with files are merged in first, by `profile merge`'s rules (their default actions do not
matter: the default is replaced). --action kill means SCMP_ACT_KILL_PROCESS, never the thread-only
SCMP_ACT_KILL. Rules are kept. --allow-group adds the members of one of systemd's syscall groups
(as `systemd-analyze syscall-filter` lists them) that exist on the profile's architectures and
have no rule yet: a group never widens a syscall restricted by arguments. A profile whose default
is SCMP_ACT_ALLOW (a deny-list) is refused. Output is canonical. Exit status: 0 written, 2
invalid input (nothing written).")]
pub struct PromoteArgs {
    /// The staged profile (any dialect).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Profiles to merge in first, such as `profile audit`'s findings; repeatable.
    #[arg(long = "with", value_name = "FILE")]
    with: Vec<PathBuf>,
    /// The enforcing default action.
    #[arg(long, value_enum, default_value_t = ActionChoice::Errno)]
    action: ActionChoice,
    /// errno returned by the default action `errno` [default: 1, EPERM].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4094))]
    errno: Option<u32>,
    /// Also allow a systemd syscall group (@basic-io, @file-system, @io-event, @signal, @sync
    /// …); repeat or separate with commas.
    #[arg(long, value_name = "@GROUP", value_delimiter = ',')]
    allow_group: Vec<String>,
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ActionChoice {
    /// SCMP_ACT_ERRNO with --errno (default EPERM).
    Errno,
    /// SCMP_ACT_KILL_PROCESS.
    Kill,
}

pub fn run(args: PromoteArgs) -> anyhow::Result<i32> {
    let enforce = match (args.action, args.errno) {
        (ActionChoice::Errno, errno) => Enforce::Errno(errno.unwrap_or(1)),
        (ActionChoice::Kill, None) => Enforce::KillProcess,
        (ActionChoice::Kill, Some(_)) => {
            log::error!("--errno goes with --action errno, not --action kill");
            return Ok(2);
        }
    };
    let groups = match super::record::allow_groups(&args.allow_group) {
        Ok(groups) => groups,
        Err(err) => {
            log::error!("{err}");
            return Ok(2);
        }
    };
    let mut files = vec![args.file.clone()];
    files.extend(args.with.iter().cloned());
    let Some(loaded) = merge::load_all(&files, &args.target) else {
        return Ok(2);
    };
    let source = args.file.display().to_string();
    let staged = &loaded[0].1;
    if staged.default_action != Action::Log {
        log::info!(
            "{source}: default is {}, not SCMP_ACT_LOG: replaced all the same",
            staged.default_action
        );
    }
    let profile = if args.with.is_empty() {
        staged.clone()
    } else {
        // The default is replaced below, so a disagreement about it does not matter; a
        // deny-list among the inputs still has to be refused.
        if let Some((file, _)) = loaded
            .iter()
            .find(|(_, p)| p.default_action == Action::Allow)
        {
            log::error!("{file}: {}", ops::OpError::AllowDefault);
            return Ok(2);
        }
        merge::merge_loaded(&loaded, |c| c.kind != ConflictKind::Default)?
    };
    let mut profile = profile;
    for (group, members) in &groups {
        let native = args
            .target
            .arch
            .or_else(native_arch)
            .unwrap_or(Arch::X86_64);
        let added = ops::allow_unruled(&mut profile, members, native);
        log::info!("{group}: {} added", added.len());
    }
    let promoted = match ops::promote(&profile, enforce) {
        Ok(promoted) => promoted,
        Err(err) => {
            log::error!("{source}: {err}");
            return Ok(2);
        }
    };
    profiler::output::emit(args.output.as_deref(), &promoted.to_canonical_json())?;
    Ok(0)
}
