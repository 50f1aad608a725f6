//! A program with known syscall behaviour for the end-to-end tests and the benchmark. Each mode
//! makes syscalls that nothing else in the program makes, in a known place (main thread, second
//! thread, forked child, exec'd grandchild), through raw `syscall(2)` so no libc wrapper or vDSO
//! hides or adds calls.
use std::{env, ffi::CString, process::exit, time::Instant};

fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays within it for cpu < 1024.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
    }
}

/// What the grandchild of `tree` calls: getpgrp, or getpgid(0) where there is no getpgrp
/// (aarch64).
#[cfg(target_arch = "x86_64")]
const GRANDCHILD_CALL: libc::c_long = libc::SYS_getpgrp;
#[cfg(not(target_arch = "x86_64"))]
const GRANDCHILD_CALL: libc::c_long = libc::SYS_getpgid;

fn raw(nr: libc::c_long) -> libc::c_long {
    // SAFETY: every number passed here is a syscall that takes no pointer arguments or
    // tolerates null ones.
    unsafe { libc::syscall(nr, 0, 0, 0) }
}

fn main() {
    let args: Vec<String> = env::args().collect();
    let arg = |i: usize| -> u64 { args.get(i).and_then(|a| a.parse().ok()).unwrap_or(0) };
    match args.get(1).map(String::as_str) {
        // sysinfo in the main thread, getcpu in a second thread, times in a forked child,
        // getpgrp in the grandchild that child execs.
        Some("tree") => {
            let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
            unsafe { libc::syscall(libc::SYS_sysinfo, &mut info) };
            std::thread::spawn(|| raw(libc::SYS_getcpu)).join().unwrap();
            futex_wake();
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                raw(libc::SYS_times);
                exec_self("grandchild");
            }
            exit(wait(pid));
        }
        Some("grandchild") => {
            raw(GRANDCHILD_CALL);
            exit(0);
        }
        // i386 getppid (64 there, semget on x86_64) through int $0x80, N times.
        #[cfg(target_arch = "x86_64")]
        Some("int80") => {
            for _ in 0..arg(2) {
                let mut eax: u32 = 64;
                unsafe { std::arch::asm!("int 0x80", inout("eax") eax, options(nostack)) };
                assert!(eax as i32 > 0, "int $0x80 getppid failed: {}", eax as i32);
            }
        }
        // `burst N`: N getppid in the main thread, N getpgrp (getpgid on aarch64) in a second
        // thread, then one times (none when N is 0, so `burst 0` is the same program without
        // those calls).
        Some("burst") => {
            let n = arg(2);
            let worker = std::thread::spawn(move || {
                for _ in 0..n {
                    raw(GRANDCHILD_CALL);
                }
            });
            for _ in 0..n {
                raw(libc::SYS_getppid);
            }
            worker.join().unwrap();
            futex_wake();
            if n > 0 {
                raw(libc::SYS_times);
            }
        }
        // `paths [full]`: a common path, and with `full` a second one that makes 150 sysinfo and
        // 150 getcpu calls and fails (exit 3) as soon as one is refused.
        Some("paths") => {
            println!("common path");
            if args.get(2).map(String::as_str) == Some("full") {
                let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
                for _ in 0..150 {
                    let r = unsafe { libc::syscall(libc::SYS_sysinfo, &mut info) };
                    if r < 0 || raw(libc::SYS_getcpu) < 0 {
                        eprintln!("second path refused: {}", std::io::Error::last_os_error());
                        exit(3);
                    }
                }
            }
        }
        Some("exit") => exit(arg(2) as i32),
        Some("signal") => unsafe {
            libc::raise(arg(2) as i32);
        },
        // Leaves a child behind that makes getsid 300 ms after the parent exited.
        Some("orphan") => {
            if unsafe { libc::fork() } == 0 {
                std::thread::sleep(std::time::Duration::from_millis(300));
                raw(libc::SYS_getsid);
                exit(0);
            }
        }
        // `calls NR…`: each syscall number once, with zero arguments (the daemon tests pick
        // numbers that take no pointer or tolerate a null one).
        Some("calls") => {
            for nr in args[2..]
                .iter()
                .filter_map(|a| a.parse::<libc::c_long>().ok())
            {
                raw(nr);
            }
        }
        // `syscall NR ARG…`: one syscall with these arguments (decimal or 0x…); prints `ok` or
        // `errno N`. Only for calls that take no pointer (getppid ignores its arguments).
        Some("syscall") => {
            let number = |i: usize| -> u64 {
                let text = args.get(i).map(String::as_str).unwrap_or("0");
                match text.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16).expect("a hex number"),
                    None => text.parse().expect("a number"),
                }
            };
            // SAFETY: see above; arguments are plain numbers.
            let ret = unsafe {
                libc::syscall(
                    number(2) as libc::c_long,
                    number(3),
                    number(4),
                    number(5),
                    number(6),
                    number(7),
                    number(8),
                )
            };
            if ret < 0 {
                println!(
                    "errno {}",
                    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
                );
            } else {
                println!("ok");
            }
        }
        // A number no table names.
        Some("unknown") => {
            raw(999);
        }
        // Waits for SIGTERM, then exits 42.
        Some("wait-term") => unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            println!("ready");
            let mut sig = 0;
            libc::sigwait(&set, &mut sig);
            exit(42);
        },
        // `children N`: N children one after another, each calling times once; the parent
        // never calls it. The kernel reuses the stacks of exited tasks for the next ones.
        Some("children") => {
            for _ in 0..arg(2) {
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    raw(libc::SYS_times);
                    unsafe { libc::_exit(0) };
                }
                if wait(pid) != 0 {
                    exit(1);
                }
            }
        }
        // `loop N THREADS [hold]`: N getppid calls in each of THREADS threads; prints ns per call.
        Some("loop") => {
            let (n, threads) = (arg(2).max(1), arg(3).max(1));
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let start = Instant::now();
            let workers: Vec<_> = (0..threads)
                .map(|i| {
                    std::thread::spawn(move || {
                        // Each thread on a CPU of its own, counted from the last: a loop that
                        // migrates pays cache refills that have nothing to do with what is
                        // measured, and made medians of the same configuration differ by 10%.
                        pin_to_cpu(cpus - 1 - (i as usize % cpus));
                        for _ in 0..n {
                            raw(libc::SYS_getppid);
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            println!("{:.2}", start.elapsed().as_nanos() as f64 / n as f64);
            // `hold`: stay alive (and watched) until stdin closes, so the benchmark can read
            // the recorder's kernel-side statistics of the run.
            if args.get(4).is_some_and(|a| a == "hold") {
                use std::io::{Read, Write};
                std::io::stdout().flush().unwrap();
                std::io::stdin().read_to_end(&mut Vec::new()).unwrap();
            }
        }
        // `argloop personality|clone N`: N calls whose filter decision depends on the arguments
        // (so the kernel's action cache cannot answer them), for the enforcement benchmark:
        // personality(0xffffffff), which Docker's default allows by its argument, and a clone
        // with CLONE_NEWUSER|CLONE_FS, which it refuses by its flags and the kernel refuses as
        // EINVAL unfiltered, so nothing is ever created. Prints ns per call.
        Some("argloop") => {
            let (nr, a0): (libc::c_long, libc::c_ulong) = match args.get(2).map(String::as_str) {
                Some("personality") => (libc::SYS_personality, 0xffff_ffff),
                Some("clone") => (
                    libc::SYS_clone,
                    (libc::CLONE_NEWUSER | libc::CLONE_FS) as libc::c_ulong,
                ),
                other => panic!("argloop: no call {other:?}"),
            };
            let n = arg(3).max(1);
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            pin_to_cpu(cpus - 1);
            let start = Instant::now();
            for _ in 0..n {
                // SAFETY: neither call takes a pointer here, and the clone never succeeds.
                unsafe { libc::syscall(nr, a0, 0, 0, 0, 0) };
            }
            println!("{:.2}", start.elapsed().as_nanos() as f64 / n as f64);
        }
        // Argument-restriction probes (`record --args`): each prints one line per call, `NAME:
        // ok` or `NAME: errno N`, and exits 0, so a test can assert the exact errno.
        // `unix-socket`: an AF_UNIX stream socket.
        Some("unix-socket") => {
            report("socket(AF_UNIX)", socket(libc::AF_UNIX, libc::SOCK_STREAM));
        }
        // `inet-socket`: an AF_INET socket, then an AF_UNIX one with SOCK_CLOEXEC (the type's
        // flags are not part of the learned type).
        Some("inet-socket") => {
            report("socket(AF_INET)", socket(libc::AF_INET, libc::SOCK_STREAM));
            report(
                "socket(AF_UNIX)",
                socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC),
            );
        }
        // `clone-plain`: a child through clone(SIGCHLD) and unshare(CLONE_FILES): no namespace
        // flags.
        Some("clone-plain") => {
            report("clone", clone_child(0));
            // SAFETY: unshare takes flags only.
            let r = unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_FILES) };
            report("unshare(CLONE_FILES)", r);
        }
        // `clone-newnet`: a child in a new network namespace, then a plain one.
        Some("clone-newnet") => {
            report("clone(CLONE_NEWNET)", clone_child(libc::CLONE_NEWNET));
            report("clone", clone_child(0));
        }
        // `unshare-user`: a new user namespace.
        Some("unshare-user") => {
            // SAFETY: unshare takes flags only.
            let r = unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) };
            report("unshare(CLONE_NEWUSER)", r);
        }
        // `fcntl N`: N fcntl(F_GETFD) calls; prints ns per call.
        Some("fcntl") => {
            let n = arg(2).max(1);
            let start = Instant::now();
            for _ in 0..n {
                // SAFETY: F_GETFD on stdin takes no pointer.
                unsafe { libc::syscall(libc::SYS_fcntl, 0, libc::F_GETFD) };
            }
            println!("{:.2}", start.elapsed().as_nanos() as f64 / n as f64);
        }
        _ => {
            eprintln!("usage: exerciser tree|int80 N|burst N|paths [full]|exit N|signal N|orphan|calls NR…|unknown|wait-term|children N|loop N THREADS [hold]|unix-socket|inet-socket|clone-plain|clone-newnet|unshare-user|fcntl N");
            exit(2);
        }
    }
}

/// Prints `what: ok` or `what: errno N` for a raw syscall's result.
fn report(what: &str, result: libc::c_long) {
    if result < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        println!("{what}: errno {errno}");
    } else {
        println!("{what}: ok");
    }
}

fn socket(family: libc::c_int, kind: libc::c_int) -> libc::c_long {
    // SAFETY: socket takes no pointers.
    unsafe { libc::syscall(libc::SYS_socket, family, kind, 0) }
}

/// clone(flags | SIGCHLD) with no new stack, like fork; the child exits 0 at once. Returns the
/// clone result (the parent waits for a child).
fn clone_child(flags: libc::c_int) -> libc::c_long {
    // SAFETY: without CLONE_VM the child has its own copy of the memory, as after fork, and
    // exits through the raw syscall without touching any of it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0,
            0,
            0,
            0,
        )
    };
    if r == 0 {
        unsafe { libc::syscall(libc::SYS_exit, 0) };
    }
    if r > 0 {
        wait(r as libc::pid_t);
    }
    r
}

/// Joining a thread waits on a futex only when the thread has not finished yet; one futex call
/// of our own makes the set of syscalls the same from run to run.
fn futex_wake() {
    let word: u32 = 0;
    // SAFETY: FUTEX_WAKE on a valid word wakes nobody and returns 0.
    unsafe { libc::syscall(libc::SYS_futex, &word as *const u32, libc::FUTEX_WAKE, 1) };
}

fn exec_self(mode: &str) -> ! {
    let exe = CString::new("/proc/self/exe").unwrap();
    let argv0 = CString::new("exerciser").unwrap();
    let mode = CString::new(mode).unwrap();
    let argv = [argv0.as_ptr(), mode.as_ptr(), std::ptr::null()];
    unsafe { libc::execv(exe.as_ptr(), argv.as_ptr()) };
    exit(127);
}

fn wait(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    libc::WEXITSTATUS(status)
}
