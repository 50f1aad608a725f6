use clap::{Args, ValueEnum};
use profiler::syscalls::Arch;

/// Print the syscall table profile uses for an architecture: number and name, one per line.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  profile syscalls --abi i386 | grep getppid\n\nExit status: 0."
)]
pub struct SyscallsArgs {
    /// The ABI (default: this machine's own, x86_64 or aarch64).
    #[arg(long, value_enum)]
    abi: Option<ArchChoice>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ArchChoice {
    #[value(name = "x86_64")]
    X86_64,
    I386,
    X32,
    Aarch64,
    Arm,
}

pub fn run(args: SyscallsArgs) -> anyhow::Result<i32> {
    let abi = match args.abi {
        None => Arch::NATIVE,
        Some(ArchChoice::X86_64) => Arch::X86_64,
        Some(ArchChoice::I386) => Arch::X86,
        Some(ArchChoice::X32) => Arch::X32,
        Some(ArchChoice::Aarch64) => Arch::Aarch64,
        Some(ArchChoice::Arm) => Arch::Arm,
    };
    let text: String = abi
        .table()
        .iter()
        .map(|(nr, name)| format!("{nr} {name}\n"))
        .collect();
    profiler::output::emit(None, &text)?;
    Ok(0)
}
