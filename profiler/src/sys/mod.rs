//! The thin layer of process-control syscalls that recording needs: starting a command held
//! before its exec, signals, waiting, privileges. Everything else stays testable without root.
use std::{
    ffi::{CString, OsStr, OsString},
    fs, io,
    mem::MaybeUninit,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::{
            ffi::OsStrExt,
            fs::{OpenOptionsExt as _, PermissionsExt},
        },
    },
    path::{Path, PathBuf},
};

pub mod child;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{program}: cannot execute: {source}")]
    NotExecutable { program: String, source: io::Error },
    #[error("{0}: argument contains a NUL byte")]
    Nul(String),
    #[error("{program}: cannot prepare the process before exec: {source}")]
    Prepare { program: String, source: io::Error },
}

impl CommandError {
    /// The exit status a shell gives for the same failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            CommandError::NotFound(_) => 127,
            CommandError::NotExecutable { .. }
            | CommandError::Nul(_)
            | CommandError::Prepare { .. } => 126,
        }
    }
}

/// Finds `program` as `execvp` would, so the child can exec the path directly: an `execvp` in
/// the watched child would add one failed `execve` per PATH entry to the profile.
pub fn resolve_program(program: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, CommandError> {
    let shown = program.to_string_lossy().into_owned();
    if program.is_empty() {
        return Err(CommandError::NotFound(shown));
    }
    let check = |candidate: &Path| -> Result<(), CommandError> {
        let meta = fs::metadata(candidate).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => CommandError::NotFound(shown.clone()),
            _ => CommandError::NotExecutable {
                program: shown.clone(),
                source,
            },
        })?;
        if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
            return Err(CommandError::NotExecutable {
                program: shown.clone(),
                source: io::Error::from_raw_os_error(libc::EACCES),
            });
        }
        Ok(())
    };
    if program.as_bytes().contains(&b'/') {
        let path = PathBuf::from(program);
        check(&path)?;
        return Ok(path);
    }
    let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    for dir in path_var.as_bytes().split(|&b| b == b':') {
        // An empty PATH entry means the current directory.
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(program);
        if check(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(CommandError::NotFound(shown))
}

/// Who `record --user` runs the command as, resolved before the fork (the child may only make
/// async-signal-safe calls, and reading /etc/passwd is not one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// Supplementary groups: the user's from the group database, as `initgroups` sets them.
    pub groups: Vec<libc::gid_t>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("--user {0:?}: no such user")]
    NoUser(String),
    #[error("--user {0:?}: no such group")]
    NoGroup(String),
    #[error("--user {0:?}: a numeric user without a passwd entry needs a group (UID:GID)")]
    NoPrimaryGroup(String),
}

impl Credentials {
    /// `USER[:GROUP]`, names or numbers (as `strace -u` and `chown` take them). Without GROUP,
    /// the user's primary group.
    pub fn lookup(spec: &str) -> Result<Credentials, UserError> {
        let (user, group) = match spec.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (spec, None),
        };
        let entry = passwd_entry(user);
        let uid = match (&entry, user.parse::<libc::uid_t>()) {
            (Some((uid, _)), _) => *uid,
            (None, Ok(uid)) => uid,
            (None, Err(_)) => return Err(UserError::NoUser(user.to_owned())),
        };
        let gid = match group {
            Some(group) => group_id(group).ok_or_else(|| UserError::NoGroup(group.to_owned()))?,
            None => entry
                .as_ref()
                .map(|(_, gid)| *gid)
                .ok_or_else(|| UserError::NoPrimaryGroup(spec.to_owned()))?,
        };
        let groups = match &entry {
            Some(_) => group_list(user, gid),
            None => vec![gid],
        };
        Ok(Credentials { uid, gid, groups })
    }
}

/// uid and primary gid of a user name.
fn passwd_entry(name: &str) -> Option<(libc::uid_t, libc::gid_t)> {
    let user = nix::unistd::User::from_name(name).ok()??;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

/// A group's id, by name or number.
fn group_id(group: &str) -> Option<libc::gid_t> {
    match nix::unistd::Group::from_name(group) {
        Ok(Some(entry)) => Some(entry.gid.as_raw()),
        _ => group.parse().ok(),
    }
}

/// The groups `initgroups(user, gid)` would set.
fn group_list(user: &str, gid: libc::gid_t) -> Vec<libc::gid_t> {
    CString::new(user)
        .ok()
        .and_then(|name| nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(gid)).ok())
        .map_or_else(
            || vec![gid],
            |groups| groups.into_iter().map(|g| g.as_raw()).collect(),
        )
}

/// What the child does before it stops to wait for the watcher (none of it is recorded).
#[derive(Clone, Copy, Debug, Default)]
pub struct ChildSetup<'a> {
    /// Switch to this user and its groups.
    pub user: Option<&'a Credentials>,
    /// Send the command's stdout to stderr (the result goes to stdout).
    pub stdout_to_stderr: bool,
}

/// A forked child stopped by its own SIGSTOP, just before it execs the command.
pub struct HeldChild {
    pid: libc::pid_t,
    exec_status: OwnedFd,
    program: String,
}

/// Forks a child that restores `child_mask`, does `setup`, stops itself, and once continued
/// execs `path`. Between the SIGCONT and the exec it makes no syscall, so a watcher attached
/// while it is stopped sees the command from its `execve` on.
pub fn spawn_held(
    path: &Path,
    args: &[OsString],
    child_mask: &libc::sigset_t,
    setup: &ChildSetup,
) -> Result<HeldChild, CommandError> {
    let (pid, exec_status) = fork_stopped(path, args, child_mask, setup)?;
    let program = path.display().to_string();
    let mut status = 0;
    loop {
        // SAFETY: plain waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
        if r == pid && libc::WIFSTOPPED(status) {
            break;
        }
        if r == pid || (r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted) {
            // A failed setup sent its errno.
            return Err(match read_errno(&exec_status) {
                Some(source) => CommandError::Prepare { program, source },
                None => CommandError::NotExecutable {
                    program,
                    source: io::Error::other("the child died before it could exec"),
                },
            });
        }
    }
    Ok(HeldChild {
        pid,
        exec_status,
        program,
    })
}

/// Runs `prepare` (e.g. installing a seccomp filter) and replaces this process with `path`.
/// Returns only when one of them failed.
pub fn exec_prepared(
    path: &Path,
    args: &[OsString],
    prepare: impl FnOnce() -> io::Result<()>,
) -> CommandError {
    let argv = match Argv::new(path, args) {
        Ok(argv) => argv,
        Err(err) => return err,
    };
    if let Err(source) = prepare() {
        return CommandError::Prepare {
            program: argv.program,
            source,
        };
    }
    let source = argv.exec();
    exec_failed(argv.program, source)
}

/// A program and its arguments as `execve` takes them, built before any fork, so that the
/// child only makes async-signal-safe calls.
struct Argv {
    program: String,
    path: CString,
    _args: Vec<CString>,
    pointers: Vec<*const libc::c_char>,
}

impl Argv {
    fn new(path: &Path, args: &[OsString]) -> Result<Argv, CommandError> {
        let program = path.display().to_string();
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| CommandError::Nul(program.clone()))?;
        let c_args: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| CommandError::Nul(program.clone())))
            .collect::<Result<_, _>>()?;
        let mut pointers: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
        pointers.push(std::ptr::null());
        Ok(Argv {
            program,
            path: c_path,
            _args: c_args,
            pointers,
        })
    }

    /// execve with the current environment; returns only its error.
    fn exec(&self) -> io::Error {
        extern "C" {
            static environ: *const *const libc::c_char;
        }
        // SAFETY: both arrays are NUL-terminated and outlive the call; async-signal-safe.
        unsafe {
            libc::execve(self.path.as_ptr(), self.pointers.as_ptr(), environ);
        }
        io::Error::last_os_error()
    }
}

/// Forks a child that restores `child_mask`, stops itself and, once continued, execs `path`;
/// an exec error comes back as its errno through a close-on-exec pipe, whose read end is
/// returned.
fn fork_stopped(
    path: &Path,
    args: &[OsString],
    child_mask: &libc::sigset_t,
    setup: &ChildSetup,
) -> Result<(libc::pid_t, OwnedFd), CommandError> {
    let argv = Argv::new(path, args)?;
    let not_executable = |source| CommandError::NotExecutable {
        program: argv.program.clone(),
        source,
    };

    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(not_executable(io::Error::last_os_error()));
    }
    // SAFETY: pipe2 returned two fresh descriptors we own.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    // SAFETY: the child only makes async-signal-safe calls on memory prepared above.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(not_executable(io::Error::last_os_error()));
    }
    if pid == 0 {
        let report = |errno: i32| -> ! {
            // SAFETY: write and _exit are async-signal-safe.
            unsafe {
                libc::write(write_end.as_raw_fd(), (&raw const errno).cast(), 4);
                libc::_exit(127)
            }
        };
        let failed = || {
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINVAL)
        };
        // SAFETY: async-signal-safe calls only, on memory prepared before the fork.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, child_mask, std::ptr::null_mut());
            if setup.stdout_to_stderr && libc::dup2(2, 1) < 0 {
                report(failed());
            }
            if let Some(user) = setup.user {
                // Groups first: after setuid there is no privilege left to set them.
                if libc::setgroups(user.groups.len(), user.groups.as_ptr()) != 0
                    || libc::setgid(user.gid) != 0
                    || libc::setuid(user.uid) != 0
                {
                    report(failed());
                }
            }
            libc::kill(libc::getpid(), libc::SIGSTOP);
        }
        report(argv.exec().raw_os_error().unwrap_or(libc::EINVAL));
    }
    drop(write_end);
    Ok((pid, read_end))
}

/// The errno the child reported through the pipe; `None` at EOF (the exec happened).
fn read_errno(exec_status: &OwnedFd) -> Option<io::Error> {
    let mut errno = [0u8; 4];
    let n = loop {
        // SAFETY: reading into a 4-byte buffer.
        let n = unsafe {
            libc::read(
                exec_status.as_raw_fd(),
                errno.as_mut_ptr().cast(),
                errno.len(),
            )
        };
        if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break n;
        }
    };
    (n == 4).then(|| io::Error::from_raw_os_error(i32::from_ne_bytes(errno)))
}

/// Reads the child's report: EOF means the exec happened.
fn wait_for_exec(
    pid: libc::pid_t,
    exec_status: &OwnedFd,
    program: String,
) -> Result<(), CommandError> {
    let Some(source) = read_errno(exec_status) else {
        return Ok(());
    };
    reap(pid);
    Err(exec_failed(program, source))
}

fn exec_failed(program: String, source: io::Error) -> CommandError {
    match source.kind() {
        io::ErrorKind::NotFound => CommandError::NotFound(program),
        _ => CommandError::NotExecutable { program, source },
    }
}

impl HeldChild {
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Lets the child exec. Returns once the exec has happened, or its error.
    pub fn resume(self) -> Result<libc::pid_t, CommandError> {
        // SAFETY: signalling our own stopped child.
        unsafe { libc::kill(self.pid, libc::SIGCONT) };
        wait_for_exec(self.pid, &self.exec_status, self.program)?;
        Ok(self.pid)
    }

    /// Kills and reaps the child when recording cannot start.
    pub fn abort(self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        reap(self.pid);
    }
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: plain waitpid on our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// How a process ended, as a shell reports it: the exit status, or 128 + the signal number.
pub fn exit_code(wait_status: i32) -> i32 {
    if libc::WIFSIGNALED(wait_status) {
        128 + libc::WTERMSIG(wait_status)
    } else {
        libc::WEXITSTATUS(wait_status)
    }
}

/// A pidfd: readable once the process has exited.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Which side of [`fork_detached`] this is.
pub enum Forked {
    Parent(libc::pid_t),
    /// With the descriptor that was given to keep.
    Child(OwnedFd),
}

/// Forks a child that outlives the caller: a session of its own, stdin from /dev/null,
/// stdout and stderr to `log` (appended, created 0600), every descriptor but `keep` closed, so
/// that nothing of whoever started us (a runtime's pipes) stays open in it; the parent's
/// `keep` is closed. Only while this process has one thread.
pub fn fork_detached(log: &Path, keep: OwnedFd) -> io::Result<Forked> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)?;
    let null = fs::File::open("/dev/null")?;
    // SAFETY: single-threaded (the caller's promise): the child may run anything.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            const KEPT: i32 = 3;
            // SAFETY: plain calls on descriptors this process owns. Every descriptor from 4 up
            // is closed, so the values owning them are forgotten, not dropped.
            unsafe {
                libc::setsid();
                libc::dup2(null.as_raw_fd(), 0);
                libc::dup2(log.as_raw_fd(), 1);
                libc::dup2(log.as_raw_fd(), 2);
                if keep.as_raw_fd() != KEPT && libc::dup2(keep.as_raw_fd(), KEPT) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::syscall(libc::SYS_close_range, KEPT + 1, u32::MAX, 0);
                std::mem::forget((log, null, keep));
                Ok(Forked::Child(OwnedFd::from_raw_fd(KEPT)))
            }
        }
        pid => Ok(Forked::Parent(pid)),
    }
}

/// A pipe (read end, write end), both close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Whether a byte arrives on `fd` within `timeout` (false at end of file: the writer is gone).
pub fn wait_for_byte(fd: &OwnedFd, timeout: std::time::Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&mut pfd, 1, millis) } != 1 {
        return false;
    }
    let mut byte = [0u8; 1];
    // SAFETY: reads into a one-byte buffer we own.
    unsafe { libc::read(fd.as_raw_fd(), byte.as_mut_ptr().cast(), 1) == 1 }
}

/// Reaps `pid` if it has exited, returning its wait status.
pub fn try_wait(pid: libc::pid_t) -> io::Result<Option<i32>> {
    let mut status = 0;
    // SAFETY: plain waitpid on our own child.
    match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
        0 => Ok(None),
        r if r == pid => Ok(Some(status)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Signals that end a recording. They are blocked and read from a signalfd, which tells who
/// sent them: a terminal's ^C reaches the whole foreground group, the child included, so only
/// signals sent to us alone are passed on.
pub const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

pub struct Signals {
    fd: OwnedFd,
    /// The mask before blocking, restored in the child.
    pub original_mask: libc::sigset_t,
}

#[derive(Clone, Copy, Debug)]
pub struct ReceivedSignal {
    pub signo: i32,
    /// Sent by the kernel to a whole process group (a terminal's ^C), not by kill(2).
    pub from_kernel: bool,
}

impl Signals {
    /// Blocks [`STOP_SIGNALS`] in the calling thread (call it before other threads start).
    pub fn block() -> io::Result<Signals> {
        // SAFETY: sigset manipulation on local, initialised sets.
        unsafe {
            let mut set = MaybeUninit::<libc::sigset_t>::zeroed().assume_init();
            libc::sigemptyset(&mut set);
            for sig in STOP_SIGNALS {
                libc::sigaddset(&mut set, sig);
            }
            let mut original_mask = MaybeUninit::<libc::sigset_t>::zeroed().assume_init();
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut original_mask) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Signals {
                fd: OwnedFd::from_raw_fd(fd),
                original_mask,
            })
        }
    }

    /// Reads one pending signal, if any.
    pub fn read(&self) -> io::Result<Option<ReceivedSignal>> {
        let mut info = MaybeUninit::<libc::signalfd_siginfo>::zeroed();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: reading one signalfd_siginfo into a buffer of its size.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(err)
            };
        }
        // SAFETY: the kernel filled the whole struct.
        let info = unsafe { info.assume_init() };
        Ok(Some(ReceivedSignal {
            signo: info.ssi_signo as i32,
            from_kernel: info.ssi_code == libc::SI_KERNEL,
        }))
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

pub fn send_signal(pid: libc::pid_t, signo: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, signo) };
}

/// The running kernel's release string (`uname -r`).
pub fn kernel_release() -> io::Result<String> {
    // SAFETY: uname fills the struct it is given; a zeroed utsname is a valid argument.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(uts
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect())
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Loading and attaching tracing programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN).
/// Returns the missing capability's name, if any.
pub fn missing_bpf_capability() -> io::Result<Option<&'static str>> {
    let status = fs::read_to_string("/proc/self/status")?;
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .ok_or_else(|| io::Error::other("no CapEff line in /proc/self/status"))?;
    Ok(missing_from(effective))
}

fn missing_from(effective: u64) -> Option<&'static str> {
    let has = |cap: u32| effective & (1 << cap) != 0;
    if has(CAP_SYS_ADMIN) {
        return None;
    }
    if !has(CAP_BPF) {
        return Some("CAP_BPF");
    }
    if !has(CAP_PERFMON) {
        return Some("CAP_PERFMON");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities() {
        assert_eq!(missing_from(0), Some("CAP_BPF"));
        assert_eq!(missing_from(1 << CAP_BPF), Some("CAP_PERFMON"));
        assert_eq!(missing_from((1 << CAP_BPF) | (1 << CAP_PERFMON)), None);
        assert_eq!(missing_from(1 << CAP_SYS_ADMIN), None);
    }

    #[test]
    fn resolves_like_execvp() {
        let path = OsStr::new("/nonexistent:/bin:/usr/bin");
        assert_eq!(
            resolve_program(OsStr::new("sh"), Some(path)).unwrap(),
            Path::new("/bin/sh")
        );
        let err = resolve_program(OsStr::new("no-such-command-xyz"), Some(path)).unwrap_err();
        assert_eq!(err.exit_code(), 127);
        assert_eq!(err.to_string(), "no-such-command-xyz: command not found");
        let err = resolve_program(OsStr::new("/etc/passwd"), None).unwrap_err();
        assert_eq!(err.exit_code(), 126);
        let err = resolve_program(OsStr::new("/no/such/file"), None).unwrap_err();
        assert_eq!(err.exit_code(), 127);
        assert_eq!(
            resolve_program(OsStr::new("/bin/sh"), None).unwrap(),
            Path::new("/bin/sh")
        );
    }

    #[test]
    fn users_resolve_by_name_and_number() {
        let root = Credentials::lookup("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0), "{root:?}");
        let numeric = Credentials::lookup("4242:4343").unwrap();
        assert_eq!(
            numeric,
            Credentials {
                uid: 4242,
                gid: 4343,
                groups: vec![4343]
            }
        );
        assert_eq!(
            Credentials::lookup("no-such-user-xyz"),
            Err(UserError::NoUser("no-such-user-xyz".into()))
        );
        assert_eq!(
            Credentials::lookup("root:no-such-group-xyz"),
            Err(UserError::NoGroup("no-such-group-xyz".into()))
        );
        assert_eq!(
            Credentials::lookup("4242"),
            Err(UserError::NoPrimaryGroup("4242".into()))
        );
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGKILL), 128 + 9);
    }
}
