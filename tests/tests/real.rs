//! Real workloads from Debian (installed by `cargo xtask setup`): each is recorded in one
//! scenario and then enforced, by `profile run` and by libseccomp, in related ones it was not
//! recorded in: stopped by another signal, stopped and continued, a handled signal, a fresh
//! instead of a warm state. Every service is started here, on loopback or a socket in a scratch
//! directory, and killed with its process group when a test ends.
use std::{
    net::TcpListener,
    os::unix::process::{CommandExt as _, ExitStatusExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use tests::*;

const START: Duration = Duration::from_secs(60);
const STOP: Duration = Duration::from_secs(60);

/// A process (a service, or `profile record` of one) in a process group of its own, killed
/// with the whole group when dropped.
struct Service {
    child: Child,
    what: String,
    log: PathBuf,
}

impl Service {
    /// Starts `argv` with stdout and stderr appended to `log`.
    fn start(what: &str, argv: &[String], log: &Path) -> Service {
        let file = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap()
        };
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(file())
            .stderr(file())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|err| panic!("{what}: starting {argv:?}: {err}"));
        Service {
            child,
            what: what.to_owned(),
            log: log.to_owned(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Calls `done` until it gives a value, failing with the log after `limit`.
    fn poll<T>(
        &mut self,
        limit: Duration,
        waiting_for: &str,
        mut done: impl FnMut(&mut Child) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(value) = done(&mut self.child) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {waiting_for} after {limit:?}:\n{}",
                self.what,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `ready` holds, failing with the log when the service exits or takes too long.
    fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) {
        let exited = self.poll(START, "not ready", |child| {
            if ready() {
                return Some(None);
            }
            child.try_wait().unwrap().map(Some)
        });
        if let Some(status) = exited {
            panic!(
                "{}: exited before it was ready ({status:?}):\n{}",
                self.what,
                self.log()
            );
        }
    }

    /// Sends `signo` and waits for a successful exit.
    fn stop(&mut self, signo: i32) {
        signal(self.pid(), signo);
        self.expect_success();
    }

    /// Waits for the exit, which must be a success.
    fn expect_success(&mut self) {
        let status = self.wait();
        assert!(
            status.success(),
            "{}: {status:?}:\n{}",
            self.what,
            self.log()
        );
    }

    fn wait(&mut self) -> ExitStatus {
        self.poll(STOP, "still running", |child| child.try_wait().unwrap())
    }

    /// SIGSTOP, a pause, SIGCONT: what a debugger or a job-control shell does to a service.
    fn stop_and_continue(&self) {
        signal(self.pid(), libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(300));
        signal(self.pid(), libc::SIGCONT);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the group is ours.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// `profile record -o PROFILE [--user USER] -- ARGV`.
fn record_argv(profile: &Path, user: Option<&str>, argv: &[String]) -> Vec<String> {
    let mut out = vec![
        profile_bin().display().to_string(),
        "record".to_owned(),
        "-o".to_owned(),
        profile.display().to_string(),
    ];
    if let Some(user) = user {
        out.extend(["--user".to_owned(), user.to_owned()]);
    }
    out.push("--".to_owned());
    out.extend(argv.iter().cloned());
    out
}

fn strings(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|a| a.to_string()).collect()
}

/// The pid in the first line of a pid file, once it is there.
fn pid_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client's stdout, or `None` when it failed.
fn answer(client: &mut Command) -> Option<String> {
    let output = client.stderr(Stdio::null()).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `curl -fsS URL`: the body, or `None` when the request failed.
fn get(url: &str) -> Option<String> {
    answer(Command::new("curl").args(["-fsS", "--max-time", "10", url]))
}

/// The HTTP service still answers `url` with `body`, and exits 0 on `stop`.
fn answers_then_stops(service: &mut Service, url: &str, body: &str, stop: i32) {
    assert_eq!(get(url).as_deref(), Some(body), "{}", service.what);
    service.stop(stop);
}

fn chown(path: &Path, user: &str) {
    let output = run(Command::new("chown").arg("-R").arg(user).arg(path));
    assert!(output.status.success(), "{}", describe(&output));
}

// ---- nginx ---------------------------------------------------------------------------------

/// A prefix directory with a config serving `www/` on `port`, master and two workers.
fn nginx_prefix(dir: &Path, port: u16) -> Vec<String> {
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::create_dir_all(dir.join("temp")).unwrap();
    std::fs::write(dir.join("www/index.html"), "hello from nginx\n").unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process on;\nworker_processes 2;\nuser nobody nogroup;\n\
             pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/temp/body;\n\
             proxy_temp_path {d}/temp/proxy;\n  fastcgi_temp_path {d}/temp/fastcgi;\n\
             uwsgi_temp_path {d}/temp/uwsgi;\n  scgi_temp_path {d}/temp/scgi;\n\
             server {{ listen 127.0.0.1:{port}; root {d}/www; }}\n}}\n"
        ),
    )
    .unwrap();
    strings(&[
        "/usr/sbin/nginx",
        "-p",
        &dir.display().to_string(),
        "-e",
        &format!("{d}/error.log"),
        "-c",
        &format!("{d}/nginx.conf"),
    ])
}

/// Recorded: start, one request, graceful stop (SIGQUIT). Enforced: stopped by SIGTERM; a
/// reload (SIGHUP, handled); SIGSTOP/SIGCONT; each with requests before the stop.
#[test]
fn nginx() {
    require_root();
    let dir = scratch("real-nginx");
    let profile = dir.join("nginx.json");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let argv = nginx_prefix(&dir.join("rec"), port);
    let mut rec = Service::start(
        "nginx (recorded)",
        &record_argv(&profile, None, &argv),
        &dir.join("rec.log"),
    );
    rec.wait_ready(|| get(&url).is_some());
    let master = pid_file(&dir.join("rec/nginx.pid")).expect("nginx.pid");
    signal(master, libc::SIGQUIT);
    rec.expect_success();

    for enforcer in Enforcer::BOTH {
        for scenario in ["sigterm", "reload", "stop-continue"] {
            let what = format!("nginx {scenario} under {enforcer:?}");
            let port = free_port();
            let url = format!("http://127.0.0.1:{port}/");
            let run_dir = dir.join(format!("{enforcer:?}-{scenario}"));
            let argv = nginx_prefix(&run_dir, port);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let mut service = Service::start(
                &what,
                &enforcer.argv(&profile, None, &argv),
                &run_dir.with_extension("log"),
            );
            service.wait_ready(|| get(&url).is_some());
            match scenario {
                "reload" => {
                    signal(service.pid(), libc::SIGHUP);
                    std::thread::sleep(Duration::from_millis(500));
                }
                "stop-continue" => service.stop_and_continue(),
                _ => {}
            }
            let stop = [libc::SIGQUIT, libc::SIGTERM][usize::from(scenario == "sigterm")];
            answers_then_stops(&mut service, &url, "hello from nginx\n", stop);
        }
    }
}

// ---- redis ---------------------------------------------------------------------------------

fn redis_argv(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    chown(dir, "redis");
    let d = dir.display();
    strings(&[
        "/usr/bin/redis-server",
        "--port",
        "0",
        "--unixsocket",
        &format!("{d}/redis.sock"),
        "--dir",
        &d.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--logfile",
        &format!("{d}/redis.log"),
    ])
}

fn redis_cli(dir: &Path, args: &[&str]) -> Option<String> {
    let answer = answer(
        Command::new("redis-cli")
            .arg("-s")
            .arg(dir.join("redis.sock"))
            .args(args),
    )?;
    Some(answer.trim().to_owned())
}

/// Recorded (as the redis user): SET, GET, `redis-cli shutdown`. Enforced: stopped by SIGTERM
/// (its handler returns through rt_sigreturn: exit 139 without it); SIGSTOP/SIGCONT.
#[test]
fn redis() {
    require_root();
    let dir = scratch("real-redis");
    let profile = dir.join("redis.json");
    let rec_dir = dir.join("rec");
    let mut rec = Service::start(
        "redis (recorded)",
        &record_argv(&profile, Some("redis"), &redis_argv(&rec_dir)),
        &dir.join("rec.log"),
    );
    rec.wait_ready(|| redis_cli(&rec_dir, &["ping"]).as_deref() == Some("PONG"));
    assert_eq!(
        redis_cli(&rec_dir, &["set", "k", "v"]).as_deref(),
        Some("OK")
    );
    assert_eq!(redis_cli(&rec_dir, &["get", "k"]).as_deref(), Some("v"));
    let _ = redis_cli(&rec_dir, &["shutdown"]);
    rec.expect_success();

    // The control: without the implied calls, its SIGTERM handler cannot return.
    let control_dir = dir.join("control");
    let argv = redis_argv(&control_dir);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut control = Service::start(
        "redis without implied calls",
        &Enforcer::Ours.argv(&without_implied(&profile), Some("redis"), &argv),
        &dir.join("control.log"),
    );
    control.wait_ready(|| redis_cli(&control_dir, &["ping"]).as_deref() == Some("PONG"));
    signal(control.pid(), libc::SIGTERM);
    assert_eq!(control.wait().signal(), Some(libc::SIGSEGV));

    for enforcer in Enforcer::BOTH {
        for scenario in ["sigterm", "stop-continue"] {
            let what = format!("redis {scenario} under {enforcer:?}");
            let run_dir = dir.join(format!("{enforcer:?}-{scenario}"));
            let argv = redis_argv(&run_dir);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let mut service = Service::start(
                &what,
                &enforcer.argv(&profile, Some("redis"), &argv),
                &run_dir.with_extension("log"),
            );
            service.wait_ready(|| redis_cli(&run_dir, &["ping"]).as_deref() == Some("PONG"));
            if scenario == "stop-continue" {
                service.stop_and_continue();
            }
            assert_eq!(
                redis_cli(&run_dir, &["set", "k", "v"]).as_deref(),
                Some("OK")
            );
            assert_eq!(
                redis_cli(&run_dir, &["get", "k"]).as_deref(),
                Some("v"),
                "{what}"
            );
            service.stop(libc::SIGTERM);
        }
    }
}

// ---- PostgreSQL ----------------------------------------------------------------------------

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A new cluster in `dir/data` (initdb as postgres, outside any profile).
fn pg_init(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    chown(dir, "postgres");
    let output = run(Command::new("setpriv")
        .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
        .arg(format!("{PG_BIN}/initdb"))
        .arg("-D")
        .arg(dir.join("data"))
        .args(["--no-sync", "-A", "trust", "-U", "postgres"]));
    assert!(output.status.success(), "initdb: {}", describe(&output));
}

/// The postmaster on a socket in `dir`, no TCP.
fn pg_argv(dir: &Path) -> Vec<String> {
    strings(&[
        &format!("{PG_BIN}/postgres"),
        "-D",
        &dir.join("data").display().to_string(),
        "-k",
        &dir.display().to_string(),
        "-c",
        "listen_addresses=",
    ])
}

fn psql(dir: &Path, sql: &str) -> Option<String> {
    let answer = answer(
        Command::new("setpriv")
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(format!("{PG_BIN}/psql"))
            .arg("-h")
            .arg(dir)
            .args(["-U", "postgres", "-qAt", "-c", sql]),
    )?;
    Some(answer.trim().to_owned())
}

/// Writes, then switches WAL segments and checkpoints, three times: a new segment is created
/// (fresh cluster) or a recycled one reused (warm cluster).
fn pg_work(dir: &Path, what: &str) {
    for _ in 0..3 {
        let done = psql(
            dir,
            "create table if not exists t(x int); insert into t select generate_series(1, 20000); \
             select pg_switch_wal(); checkpoint;",
        );
        assert!(done.is_some(), "{what}: workload failed");
    }
    assert!(psql(dir, "select count(*) from t").is_some(), "{what}");
}

fn pg_ready(dir: &Path) -> bool {
    psql(dir, "select 1").as_deref() == Some("1")
}

/// Recorded (as the postgres user) on a warm cluster, whose next WAL segments already exist:
/// the workload and a fast shutdown (SIGINT). Enforced: a fresh cluster, whose first new WAL
/// segment is zero-filled with pwritev (PANIC without it); the warm one stopped with SIGTERM
/// (smart shutdown); the warm one stopped and continued.
#[test]
fn postgresql() {
    require_root();
    let dir = scratch("real-pg");
    let profile = dir.join("pg.json");
    let warm = dir.join("warm");
    pg_init(&warm);
    {
        let mut warmup = Service::start(
            "postgres warm-up",
            &{
                let mut argv = strings(&[
                    "setpriv",
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                ]);
                argv.extend(pg_argv(&warm));
                argv
            },
            &dir.join("warmup.log"),
        );
        warmup.wait_ready(|| pg_ready(&warm));
        for _ in 0..3 {
            pg_work(&warm, "warm-up");
        }
        warmup.stop(libc::SIGINT);
    }
    let mut rec = Service::start(
        "postgres (recorded)",
        &record_argv(&profile, Some("postgres"), &pg_argv(&warm)),
        &dir.join("rec.log"),
    );
    rec.wait_ready(|| pg_ready(&warm));
    pg_work(&warm, "recorded");
    let postmaster = pid_file(&warm.join("data/postmaster.pid")).expect("postmaster.pid");
    signal(postmaster, libc::SIGINT);
    rec.expect_success();

    // The control: without the implied calls (pwritev), a fresh cluster PANICs.
    let control_dir = dir.join("control");
    pg_init(&control_dir);
    let argv = pg_argv(&control_dir);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let control = {
        let mut control = Service::start(
            "postgres without implied calls",
            &Enforcer::Ours.argv(&without_implied(&profile), Some("postgres"), &argv),
            &dir.join("control.log"),
        );
        control.wait_ready(|| pg_ready(&control_dir));
        let _ = psql(
            &control_dir,
            "create table t(x int); insert into t select generate_series(1, 20000); \
             select pg_switch_wal(); checkpoint;",
        );
        control.log()
    };
    assert!(
        control.contains("PANIC:  could not write to file \"pg_wal/xlogtemp"),
        "{control}"
    );

    for enforcer in Enforcer::BOTH {
        for scenario in ["fresh", "smart-shutdown", "stop-continue"] {
            let what = format!("postgres {scenario} under {enforcer:?}");
            let cluster = if scenario == "fresh" {
                let fresh = dir.join(format!("fresh-{enforcer:?}"));
                pg_init(&fresh);
                fresh
            } else {
                warm.clone()
            };
            let argv = pg_argv(&cluster);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let mut service = Service::start(
                &what,
                &enforcer.argv(&profile, Some("postgres"), &argv),
                &dir.join(format!("{enforcer:?}-{scenario}.log")),
            );
            service.wait_ready(|| pg_ready(&cluster));
            if scenario == "stop-continue" {
                service.stop_and_continue();
            }
            pg_work(&cluster, &what);
            let stop = if scenario == "smart-shutdown" {
                libc::SIGTERM
            } else {
                libc::SIGINT
            };
            service.stop(stop);
            assert!(
                !std::fs::read_to_string(&service.log)
                    .unwrap()
                    .contains("PANIC"),
                "{what}:\n{}",
                service.log()
            );
        }
    }
}

// ---- CPython's own tests -------------------------------------------------------------------

/// Recorded: CPython's test_threading and test_subprocess (Debian's libpython3.11-testsuite).
/// Enforced: the same tests, stopped and continued every few seconds (each time the kernel
/// resumes interrupted futex and poll waits with restart_syscall).
#[test]
fn cpython_tests() {
    require_root();
    let dir = scratch("real-cpython");
    let profile = dir.join("python.json");
    let argv = strings(&[
        "/usr/bin/python3",
        "-I",
        "-m",
        "test",
        "-q",
        "test_threading",
        "test_subprocess",
    ]);
    let mut rec = Service::start(
        "cpython tests (recorded)",
        &record_argv(&profile, None, &argv),
        &dir.join("rec.log"),
    );
    rec.expect_success();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    for enforcer in Enforcer::BOTH {
        let what = format!("cpython tests stopped and continued under {enforcer:?}");
        let mut service = Service::start(
            &what,
            &enforcer.argv(&profile, None, &argv),
            &dir.join(format!("{enforcer:?}.log")),
        );
        let mut next = Instant::now() + Duration::from_secs(2);
        while service.child.try_wait().unwrap().is_none() {
            if Instant::now() >= next {
                service.stop_and_continue();
                next = Instant::now() + Duration::from_secs(3);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        service.expect_success();
    }
}

// ---- a Go program --------------------------------------------------------------------------

/// tests/real/goserver.go, built once per target directory (the Go cache lives there too).
fn goserver() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = tmp.join("goserver");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("real/goserver.go");
    let output = run(Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(&source)
        .env("GOCACHE", tmp.join("go-cache"))
        .env("GOPATH", tmp.join("go-path"))
        .env("GOFLAGS", "-mod=mod")
        .env("CGO_ENABLED", "0"));
    assert!(output.status.success(), "go build: {}", describe(&output));
    bin
}

/// The address the Go server said it listens on, once it did.
fn go_address(service: &mut Service) -> String {
    let log = service.log.clone();
    let said = || {
        std::fs::read_to_string(&log)
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("ready ").map(str::to_owned))
    };
    service.wait_ready(|| said().is_some());
    said().expect("ready line")
}

/// Recorded: one request, SIGTERM. Enforced: SIGINT; 200 requests from 8 clients at once;
/// SIGSTOP/SIGCONT.
#[test]
fn go_http_server() {
    require_root();
    let dir = scratch("real-go");
    let profile = dir.join("go.json");
    let server = goserver().display().to_string();
    let mut rec = Service::start(
        "go (recorded)",
        &record_argv(&profile, None, std::slice::from_ref(&server)),
        &dir.join("rec.log"),
    );
    let addr = go_address(&mut rec);
    assert_eq!(get(&format!("http://{addr}/")).as_deref(), Some("hello\n"));
    // Sent to `profile record` alone, SIGTERM is passed on to the command.
    rec.stop(libc::SIGTERM);

    for enforcer in Enforcer::BOTH {
        for scenario in ["sigint", "load", "stop-continue"] {
            let what = format!("go {scenario} under {enforcer:?}");
            let mut service = Service::start(
                &what,
                &enforcer.argv(&profile, None, &[&server]),
                &dir.join(format!("{enforcer:?}-{scenario}.log")),
            );
            let url = format!("http://{}/", go_address(&mut service));
            match scenario {
                "load" => {
                    let clients: Vec<_> = (0..8)
                        .map(|_| {
                            let url = url.clone();
                            std::thread::spawn(move || {
                                (0..25).all(|_| get(&url).as_deref() == Some("hello\n"))
                            })
                        })
                        .collect();
                    for client in clients {
                        assert!(client.join().unwrap(), "{what}");
                    }
                }
                "stop-continue" => service.stop_and_continue(),
                _ => {}
            }
            let stop = [libc::SIGTERM, libc::SIGINT][usize::from(scenario == "sigint")];
            answers_then_stops(&mut service, &url, "hello\n", stop);
        }
    }
}
