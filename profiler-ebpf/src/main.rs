//! The kernel side of the recorder: count every syscall of watched process trees.
//!
//! One file per hook; each hook `x` calls `try_x`, which returns a `Result` so errors have one
//! exit.
#![no_std]
#![no_main]

mod args;
mod maps;
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
