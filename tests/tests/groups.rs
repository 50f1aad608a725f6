//! systemd's syscall groups as profile knows them (profiler/data/systemd-syscall-groups.txt)
//! against the machine's `systemd-analyze syscall-filter`, and `--allow-group` end to end.
use std::process::Command;

use profiler::profile::groups;
use tests::*;

#[test]
fn the_group_table_is_systemds() {
    let output = Command::new("systemd-analyze")
        .args(["syscall-filter", "--no-pager"])
        .output()
        .expect("systemd-analyze is missing: `cargo xtask setup` installs systemd");
    assert!(output.status.success(), "{}", describe(&output));
    let machine = groups::parse(&stdout(&output));
    let ours = groups::groups();
    let names = |g: &std::collections::BTreeMap<String, groups::Group>| {
        g.keys().cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        names(ours),
        names(&machine),
        "group names differ from this machine's systemd: run `cargo xtask syscall-groups`"
    );
    for (name, group) in &machine {
        assert_eq!(
            &ours[name], group,
            "{name} differs from this machine's systemd: run `cargo xtask syscall-groups`"
        );
    }
    assert!(ours.len() > 20 && ours.contains_key("@basic-io"));
}

#[test]
fn record_and_promote_allow_a_group() {
    let (output, profile) = record(
        "group-record",
        &["--allow-group", "@sync,@timer"],
        &["/bin/true"],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let names = allowed(&profile);
    for name in [
        "fsync",
        "fdatasync",
        "syncfs",
        "setitimer",
        "timerfd_create",
    ] {
        assert!(names.contains(name), "{name} missing: {names:?}");
    }
    // i386-only members stay out of an x86_64 profile.
    assert!(!names.contains("timer_settime64"), "{names:?}");
    let counts = read_json(&scratch_path("group-record").join("profile.json.counts"));
    let sync = counts["groups"]["@sync"].as_array().expect("@sync listed");
    assert!(sync.iter().any(|n| n == "fsync"), "{counts:#}");

    let report = run(Command::new(profile_bin())
        .arg("report")
        .arg(scratch_path("group-record").join("profile.json")));
    let text = stdout(&report);
    assert!(
        text.lines()
            .any(|l| l.starts_with("fsync ") && l.ends_with("added by --allow-group @sync")),
        "{text}"
    );

    let bad = run(Command::new(profile_bin()).args([
        "record",
        "--allow-group",
        "@no-such",
        "--",
        "/bin/true",
    ]));
    assert_refused(
        &bad,
        "unknown syscall group \"@no-such\"; systemd's groups are @aio",
    );
    let bad = run(Command::new(profile_bin()).args([
        "record",
        "--allow-group",
        "sync",
        "--",
        "/bin/true",
    ]));
    assert_refused(&bad, "groups start with @");

    let dir = scratch("group-promote");
    let staged = write(
        &dir,
        "staged.json",
        r#"{"defaultAction":"SCMP_ACT_LOG","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
            {"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
            {"names":["ioctl"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":21505,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let out = dir.join("final.json");
    let promoted = run(Command::new(profile_bin())
        .arg("promote")
        .arg(&staged)
        .args(["--allow-group", "@basic-io,@system-service", "-o"])
        .arg(&out));
    assert!(promoted.status.success(), "{}", describe(&promoted));
    let profile = read_json(&out);
    let names = allowed(&profile);
    assert!(
        names.contains("pwritev2") && names.contains("epoll_pwait"),
        "{names:?}"
    );
    // ioctl keeps its condition: a group never widens a restricted syscall.
    let ioctl = rules_naming(&profile, "ioctl");
    assert_eq!(ioctl.len(), 1, "{profile:#}");
    assert_eq!(ioctl[0]["args"][0]["value"], 21505);
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
}
