//! `profile daemon` (root, real kernel): every cgroup below a root gets its own profile with
//! exactly its syscalls, across cgroups created and removed while it runs, SIGKILLs at random
//! moments, downtime, unwritable and full output directories; pinned sets are adopted,
//! replaced and removed.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use tests::{daemon::*, *};

#[test]
fn two_hundred_cgroups_each_get_exactly_their_syscalls() {
    each_cgroup_gets_exactly_its_syscalls("daemon200", 200, &[]);
}

/// The build for kernels without atomic OR (a byte per syscall, plain stores) keeps the same:
/// forced on this kernel, which would load the current one.
#[test]
fn the_5_10_build_gives_each_cgroup_exactly_its_syscalls() {
    each_cgroup_gets_exactly_its_syscalls("daemon510", 40, &[("PROFILE_BPF_VARIANT", "5.10")]);
}

fn each_cgroup_gets_exactly_its_syscalls(name: &str, cgroups: u64, env: &[(&str, &str)]) {
    let root = TestCgroup::create(&format!("profile-e2e-{}-{name}", std::process::id()));
    let out = scratch(name);
    let pins = Pins::new(name);
    let daemon = Daemon::start_with(&daemon_args(&root.path, &out, &pins, "300ms", &[]), env);
    let base = root.child("base");
    run_in(&base, &[]);
    let mut expected = Vec::new();
    for i in 1..=cgroups {
        let dir = root.child(&format!("c{i:03}"));
        let calls = subset(i);
        run_in(&dir, &calls);
        expected.push((id_of(&dir), names(&calls)));
        // Half are removed while the daemon runs, some before it has seen their path.
        if i % 2 == 0 {
            fs::remove_dir(&dir).expect("rmdir");
        }
    }
    // Removed cgroups are written, then their kernel entries freed: base and the live ones
    // stay.
    wait_status(&out, "freed entries of removed cgroups", |s| {
        s["mapEntries"] == cgroups / 2 + 1 && s["writeErrors"] == 0
    });
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");

    let by_id = profiles_by_cgroup(&out);
    let base_names = baseline(&by_id[&id_of(&base)]);
    for (i, (id, calls)) in expected.iter().enumerate() {
        let profile = by_id
            .get(id)
            .unwrap_or_else(|| panic!("no profile for c{:03} (id {id}):\n{log}", i + 1));
        let want: BTreeSet<String> = base_names.union(calls).cloned().collect();
        assert_eq!(
            allowed_in(profile),
            want,
            "c{:03}: {}",
            i + 1,
            profile.display()
        );
    }
}

/// A tiny deterministic generator: the moments differ from run to run through the seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    let root = TestCgroup::create(&format!("profile-e2e-{}-daemoncrash", std::process::id()));
    let out = scratch("daemoncrash");
    let pins = Pins::new("crash");
    let args = daemon_args(&root.path, &out, &pins, "20ms", &[]);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut rng = Lcg(seed);
    let workers: Vec<PathBuf> = (0..4).map(|i| root.child(&format!("w{i}"))).collect();
    let base = root.child("base");
    let mut expected: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut daemon = Daemon::start(&args);
    run_in(&base, &[]);
    for k in 0..50 {
        let w = &workers[k % workers.len()];
        let calls = subset(rng.next());
        run_in(w, &calls);
        expected.entry(id_of(w)).or_default().extend(names(&calls));
        std::thread::sleep(Duration::from_millis(rng.next() % 150));
        let log = daemon.kill9();
        // Every file is the old or the new version.
        profiles_by_cgroup(&out);

        // While no daemon runs: calls in a live cgroup, and in one created and removed.
        let w = &workers[(k + 1) % workers.len()];
        let calls = subset(rng.next());
        run_in(w, &calls);
        expected.entry(id_of(w)).or_default().extend(names(&calls));
        if k % 5 == 0 {
            let transient = root.child(&format!("t{k}"));
            let calls = subset(rng.next() | 1);
            run_in(&transient, &calls);
            expected.insert(id_of(&transient), names(&calls));
            fs::remove_dir(&transient).expect("rmdir");
        }
        daemon = Daemon::start(&args);
        let text = daemon.text();
        assert!(
            text.contains("adopted the pinned programs"),
            "restart {k} did not adopt:\n{text}\nbefore:\n{log}"
        );
    }
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    let by_id = profiles_by_cgroup(&out);
    let leftovers: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let base_names = baseline(&by_id[&id_of(&base)]);
    let mut union = BTreeSet::new();
    for path in by_id.values() {
        union.extend(allowed_in(path));
    }
    for (id, calls) in &expected {
        let profile = by_id
            .get(id)
            .unwrap_or_else(|| panic!("no profile for cgroup {id}:\n{log}"));
        let want: BTreeSet<String> = base_names.union(calls).cloned().collect();
        assert_eq!(
            allowed_in(profile),
            want,
            "cgroup {id}: {}",
            profile.display()
        );
        assert!(calls.is_subset(&union));
    }
}

#[test]
fn a_missing_root_is_a_clear_error() {
    require_root();
    let out = scratch("daemon-noroot");
    let pins = Pins::new("noroot");
    let missing = cgroup_v2_mount().join(format!("profile-e2e-{}-missing", std::process::id()));
    let output = run(Command::new(profile_bin()).arg("daemon").args(daemon_args(
        &missing,
        &out,
        &pins,
        "1s",
        &[],
    )));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let text = stderr(&output);
    assert!(text.contains(&missing.display().to_string()), "{text}");
    assert!(!pins.0.exists(), "nothing may be pinned");
}

/// Output directory read-only, then writable: errors are logged and counted, learning goes on,
/// and the next flush writes everything.
#[test]
fn an_unwritable_output_dir_is_retried() {
    let root = TestCgroup::create(&format!("profile-e2e-{}-daemonro", std::process::id()));
    let out = scratch("daemonro").join("out");
    let tmpfs = Tmpfs::mount(&out, "ro,size=1m");
    let pins = Pins::new("ro");
    let mut daemon = Daemon::start(&daemon_args(&root.path, &out, &pins, "200ms", &[]));
    assert!(
        daemon.text().contains("is not writable"),
        "{}",
        daemon.text()
    );
    let dir = root.child("c");
    let calls = subset(0b1010_1010);
    run_in(&dir, &calls);
    daemon.wait_log("write error", |log| log.contains("Read-only file system"));
    wait_status(&out, "write errors counted", |s| {
        s["writeErrors"].as_u64() > Some(0) && s["syscallsSeen"].as_u64() > Some(0)
    });
    tmpfs.remount("rw");
    wait_status(&out, "a flush after the remount", |s| {
        s["workloadList"]
            .as_array()
            .is_some_and(|list| list.iter().all(|w| w["written"] == true))
    });
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    let by_id = profiles_by_cgroup(&out);
    assert!(calls_in(&by_id[&id_of(&dir)], &calls));
}

/// A full disk: writes fail with ENOSPC, leave no temporary file, and succeed once there is
/// room again.
#[test]
fn a_full_disk_is_retried() {
    let root = TestCgroup::create(&format!("profile-e2e-{}-daemonfull", std::process::id()));
    let out = scratch("daemonfull").join("out");
    let _tmpfs = Tmpfs::mount(&out, "size=64k");
    let filler = out.join("filler");
    // Fill it: dd stops at ENOSPC.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", filler.display()))
        .output();
    let pins = Pins::new("full");
    let mut daemon = Daemon::start(&daemon_args(&root.path, &out, &pins, "200ms", &[]));
    let dir = root.child("c");
    let calls = subset(0b0101_0101);
    run_in(&dir, &calls);
    daemon.wait_log("ENOSPC", |log| log.contains("No space left on device"));
    let leftovers: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|name| name != "filler")
        .collect();
    assert!(leftovers.is_empty(), "half-written files: {leftovers:?}");
    fs::remove_file(&filler).unwrap();
    wait_status(&out, "a flush with room", |s| {
        s["workloadList"]
            .as_array()
            .is_some_and(|list| !list.is_empty() && list.iter().all(|w| w["written"] == true))
    });
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    let by_id = profiles_by_cgroup(&out);
    assert!(calls_in(&by_id[&id_of(&dir)], &calls));
}

/// Another layout version is removed, other settings replace the set, --unpin removes it.
#[test]
fn pinned_sets_are_adopted_replaced_and_removed() {
    let root = TestCgroup::create(&format!("profile-e2e-{}-daemonpins", std::process::id()));
    let out = scratch("daemonpins");
    let pins = Pins::new("pins");
    let args = daemon_args(&root.path, &out, &pins, "1s", &[]);
    let (code, log) = Daemon::start(&args).stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("loaded and pinned"), "{log}");
    assert!(pins.0.join("v2/link").exists());

    // An older layout's set, as a daemon of that version would have left it.
    fs::create_dir(pins.0.join("v0")).unwrap();
    let (code, log) = Daemon::start(&args).stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("adopted the pinned programs"), "{log}");
    assert!(log.contains("removed the pinned set of layout v0"), "{log}");
    assert!(!pins.0.join("v0").exists());

    let other = daemon_args(&root.path, &out, &pins, "1s", &["--max-cgroups", "100"]);
    let (code, log) = Daemon::start(&other).stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("replaced the pinned programs (loaded for"),
        "{log}"
    );

    let output =
        run(Command::new(profile_bin()).args(["daemon", "--unpin", "--pin-dir", &pins.arg()]));
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout(&output).contains("unpinned"),
        "{}",
        describe(&output)
    );
    assert!(!pins.0.exists());
}

/// A pod of the simulated node: its cgroup (below the root) and the kubelet's log files.
struct Pod {
    namespace: &'static str,
    name: String,
    container: &'static str,
    calls: Vec<(i64, &'static str)>,
    dir: PathBuf,
}

/// The cgroups of a pod in the systemd driver's layout (with `sandbox`: a second container cgroup
/// with no log symlink, as the pause container has) or the cgroupfs driver's, and its log files
/// in `logs` as the kubelet writes them.
#[allow(clippy::too_many_arguments)]
fn kube_pod(
    root: &TestCgroup,
    logs: &Path,
    n: u8,
    systemd: bool,
    namespace: &'static str,
    name: &str,
    container: &'static str,
    calls: Vec<(i64, &'static str)>,
) -> Pod {
    // Ids unique to this run and pod.
    let salt = format!("{:08x}", std::process::id());
    let uid = format!("{salt}-aaaa-bbbb-cccc-{n:012x}");
    let cid = format!("{salt}{}", format!("{n:02x}").repeat(28));
    // The kubelet writes the pod's log directory and the container's symlink before the
    // container's first process runs (the daemon names pods from them).
    let pod_dir = format!("{namespace}_{name}_{uid}");
    fs::create_dir_all(logs.join("pods").join(&pod_dir).join(container)).unwrap();
    fs::write(logs.join(format!("pods/{pod_dir}/{container}/0.log")), "").unwrap();
    fs::create_dir_all(logs.join("containers")).unwrap();
    std::os::unix::fs::symlink(
        format!("../pods/{pod_dir}/{container}/0.log"),
        logs.join(format!(
            "containers/{name}_{namespace}_{container}-{cid}.log"
        )),
    )
    .unwrap();
    let dir = if systemd {
        let pod = format!(
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
            uid.replace('-', "_")
        );
        let sandbox_id = format!("{salt}{}", format!("{:02x}", n + 100).repeat(28));
        let sandbox = root.child(&format!("{pod}/cri-containerd-{sandbox_id}.scope"));
        run_in(&sandbox, &[]);
        root.child(&format!("{pod}/cri-containerd-{cid}.scope"))
    } else {
        root.child(&format!("kubepods/besteffort/pod{uid}/{cid}"))
    };
    run_in(&dir, &calls);
    Pod {
        namespace,
        name: name.to_owned(),
        container,
        calls,
        dir,
    }
}

/// A workload's meta file: cgroup id → (its replica's JSON, its syscall numbers).
fn replicas(meta: &Path) -> BTreeMap<u64, (serde_json::Value, BTreeSet<u64>)> {
    let meta = read_json(meta);
    meta["replicas"]
        .as_array()
        .expect("replicas")
        .iter()
        .map(|r| {
            let numbers = r["syscalls"]
                .as_object()
                .expect("syscalls per ABI")
                .values()
                .flat_map(|nrs| nrs.as_array().unwrap().iter().map(|n| n.as_u64().unwrap()))
                .collect();
            (r["cgroupId"].as_u64().unwrap(), (r.clone(), numbers))
        })
        .collect()
}

/// `stem`'s profile allows the union of `pods`' calls (and the start-up's), and its meta file
/// lists exactly `pods`, each with its own calls only, and its names.
fn assert_merged(out: &Path, stem: &str, owner: &str, pods: &[&Pod], base: &BTreeSet<u64>) {
    let pool: BTreeSet<u64> = POOL.iter().map(|(nr, _)| *nr as u64).collect();
    let profile = out.join(format!("{stem}.json"));
    let want: BTreeSet<String> = pods.iter().flat_map(|p| names(&p.calls)).collect();
    let allowed = allowed_in(&profile);
    assert_eq!(
        allowed
            .intersection(&names(&POOL))
            .cloned()
            .collect::<BTreeSet<_>>(),
        want,
        "{}",
        profile.display()
    );
    let replicas = replicas(&out.join(format!("{stem}.json.meta")));
    assert_eq!(replicas.len(), pods.len(), "{stem}: {replicas:#?}");
    for pod in pods {
        let (replica, numbers) = &replicas[&id_of(&pod.dir)];
        let own: BTreeSet<u64> = pod.calls.iter().map(|(nr, _)| *nr as u64).collect();
        assert_eq!(
            numbers
                .intersection(&pool)
                .copied()
                .collect::<BTreeSet<_>>(),
            own,
            "{stem}: replica {}",
            pod.name
        );
        assert_eq!(
            &numbers.difference(&pool).copied().collect::<BTreeSet<_>>(),
            base,
            "{stem}: replica {}",
            pod.name
        );
        assert_eq!(replica["namespace"], pod.namespace, "{replica:#}");
        assert_eq!(replica["pod"], pod.name.as_str(), "{replica:#}");
        assert_eq!(replica["container"], pod.container, "{replica:#}");
        assert_eq!(replica["owner"], owner, "{replica:#}");
        assert_eq!(replica["distinct"].as_u64(), Some(numbers.len() as u64));
    }
}

/// Pods named from a fake kubelet log directory: a Deployment's 3 replicas (systemd driver) and a
/// StatefulSet's 2 (cgroupfs driver) each share one profile, a standalone pod has its own, a
/// cgroup outside kubepods keeps its path name; after a restart a 4th replica adds its calls.
#[test]
fn replicas_of_a_workload_share_one_profile() {
    let root = TestCgroup::create(&format!("profile-e2e-{}-ident", std::process::id()));
    let out = scratch("daemonident");
    let logs = scratch("daemonident-logs");
    let pins = Pins::new("ident");
    let args = daemon_args(
        &root.path,
        &out,
        &pins,
        "200ms",
        &["--kubelet-logs", &logs.display().to_string()],
    );
    let daemon = Daemon::start(&args);
    let base_dir = root.child("base");
    run_in(&base_dir, &[]);
    let web_names = [
        "web-5f8d7c6b9b-x2k9p",
        "web-5f8d7c6b9b-q7wzn",
        "web-5f8d7c6b9b-m4tvz",
    ];
    let web: Vec<Pod> = web_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            kube_pod(
                &root,
                &logs,
                i as u8,
                true,
                "shop",
                name,
                "app",
                vec![POOL[i]],
            )
        })
        .collect();
    let db: Vec<Pod> = (0..2)
        .map(|i| {
            kube_pod(
                &root,
                &logs,
                10 + i as u8,
                false,
                "shop",
                &format!("db-{i}"),
                "postgres",
                vec![POOL[4 + i]],
            )
        })
        .collect();
    let toolbox = kube_pod(
        &root,
        &logs,
        20,
        false,
        "default",
        "toolbox",
        "shell",
        vec![POOL[6]],
    );
    wait_status(&out, "the web replicas", |s| {
        s["workloadList"].as_array().is_some_and(|list| {
            list.iter().any(|w| {
                w["name"] == "shop_web_app"
                    && w["kubernetes"] == "shop/web/app"
                    && w["replicas"] == 3
            })
        })
    });
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("naming pods from the kubelet's logs"), "{log}");

    let base_names = baseline(&out.join("base.json"));
    let base: BTreeSet<u64> = replicas(&out.join("base.json.meta"))
        .into_values()
        .flat_map(|(_, numbers)| numbers)
        .collect();
    assert!(!base_names.is_empty() && !base.is_empty());
    let web_refs: Vec<&Pod> = web.iter().collect();
    let db_refs: Vec<&Pod> = db.iter().collect();
    assert_merged(&out, "shop_web_app", "web", &web_refs, &base);
    assert_merged(&out, "shop_db_postgres", "db", &db_refs, &base);
    assert_merged(&out, "default_toolbox_shell", "toolbox", &[&toolbox], &base);
    // The sandboxes (no log symlink) of the 3 web pods: one workload of the pods' owner.
    let sandboxes = replicas(&out.join("shop_web_POD.json.meta"));
    assert_eq!(sandboxes.len(), 3, "{sandboxes:#?}");
    assert!(sandboxes
        .values()
        .all(|(r, _)| r["container"] == "POD" && r["owner"] == "web"));
    let files: BTreeSet<String> = fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    assert_eq!(
        files,
        [
            "base",
            "default_toolbox_shell",
            "shop_db_postgres",
            "shop_web_POD",
            "shop_web_app"
        ]
        .iter()
        .map(|stem| format!("{stem}.json"))
        .collect()
    );

    // Restarted, a 4th replica: the profile gains its calls and keeps the others'.
    let daemon = Daemon::start(&args);
    let fourth = kube_pod(
        &root,
        &logs,
        3,
        true,
        "shop",
        "web-5f8d7c6b9b-hj8ks",
        "app",
        vec![POOL[3]],
    );
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    let mut all = web_refs;
    all.push(&fourth);
    assert_merged(&out, "shop_web_app", "web", &all, &base);
    assert_merged(&out, "shop_db_postgres", "db", &db_refs, &base);
}

/// A workload that already runs when the daemon starts is recorded mid-life: its replica is
/// marked partial in the meta file and in `profile status`, never presented as complete; one
/// started afterwards is not. The root is given as `/sys/fs/cgroup/NAME`, the path a v2-only
/// host (and the DaemonSet) uses, whatever the layout of this one.
#[test]
fn replicas_running_before_the_daemon_are_partial() {
    require_root();
    let name = format!("profile-e2e-{}-partial", std::process::id());
    let root = TestCgroup::create(&name);
    let early = root.child("early");
    let late = root.child("late");
    // Runs before the daemon and makes its calls once the daemon is up (told by a file).
    let dir = scratch("daemon-partial");
    let go = dir.join("go");
    let mut running = spawn_in_cgroup(
        &early,
        &format!(
            "while [ ! -e {} ]; do sleep 0.05; done; exec {} calls 110 102",
            go.display(),
            exerciser().display()
        ),
    );
    while !std::fs::read_to_string(early.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty()) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = dir.join("profiles");
    let pins = Pins::new("partial");
    let conventional = PathBuf::from("/sys/fs/cgroup").join(&name);
    let mut daemon = Daemon::start(&daemon_args(&conventional, &out, &pins, "200ms", &[]));
    daemon.wait_log("partial warning", |log| log.contains("already run"));
    fs::write(&go, "").unwrap();
    assert!(running.wait().unwrap().success());
    run_in(&late, &[(110, "getppid")]);
    wait_status(&out, "two workloads", |s| {
        s["workloadList"].as_array().is_some_and(|w| w.len() == 2)
    });
    let status = status(&out);
    let partial = |stem: &str| {
        status["workloadList"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == stem)
            .unwrap_or_else(|| panic!("no workload {stem}: {status:#}"))["partial"]
            .as_u64()
    };
    assert_eq!(partial("early"), Some(1), "{status:#}");
    assert_eq!(partial("late"), Some(0), "{status:#}");
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    let meta = read_json(&out.join("early.json.meta"));
    assert_eq!(meta["replicas"][0]["partial"], true, "{meta:#}");
    let meta = read_json(&out.join("late.json.meta"));
    assert!(meta["replicas"][0].get("partial").is_none(), "{meta:#}");
}
