use clap::{Args, ValueEnum};
use profiler::syscalls::Abi;

/// Print the syscall table profile uses for an ABI: number and name, one per line.
#[derive(Args)]
#[command(after_help = "Examples:\n  profile syscalls --abi i386 | grep getppid")]
pub struct SyscallsArgs {
    #[arg(long, value_enum, default_value_t = AbiChoice::X86_64)]
    abi: AbiChoice,
}

#[derive(Clone, Copy, ValueEnum)]
enum AbiChoice {
    #[value(name = "x86_64")]
    X86_64,
    I386,
    X32,
}

pub fn run(args: SyscallsArgs) -> anyhow::Result<i32> {
    let abi = match args.abi {
        AbiChoice::X86_64 => Abi::X86_64,
        AbiChoice::I386 => Abi::X86,
        AbiChoice::X32 => Abi::X32,
    };
    let text: String = abi
        .table()
        .iter()
        .map(|(nr, name)| format!("{nr} {name}\n"))
        .collect();
    profiler::output::emit(None, &text)?;
    Ok(0)
}
