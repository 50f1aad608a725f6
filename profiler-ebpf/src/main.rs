//! The kernel side of the recorder: count every syscall of watched process trees.
//!
//! One file per hook; each hook `x` calls `try_x`, which returns a `Result` so errors have one
//! exit.
#![no_std]
#![no_main]
// `atomic_or` (daemon.rs): the BPF target has no compare-and-swap, so `AtomicU64::fetch_or` is
// not offered, but BPF has an atomic OR instruction. (Host builds, for clippy, use fetch_or.)
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics))]
#![cfg_attr(target_arch = "bpf", allow(internal_features))]

mod abi;
mod args;
mod daemon;
mod maps;
mod regs;
mod sched_process_exit;
mod sched_process_fork;
mod sys_enter;
mod task;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
