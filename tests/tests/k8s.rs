//! Output for Kubernetes: `profile export --format spo|kubelet` and `profile install`, checked
//! offline against the SPO SeccompProfile CRD's schemas (jsonschema, unknown fields rejected) and
//! Kubernetes' own Pod schemas (PyPI kubernetes-validate, strict), through
//! tests/scripts/k8s_validate.py. No root needed.
use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

use tests::*;

const X86_64: [&str; 4] = ["--arch", "x86_64", "--kernel", "6.18"];
/// The oldest and newest Kubernetes schemas kubernetes-validate 1.37.0 ships.
const KUBERNETES: [&str; 2] = ["1.25.0", "1.37.0"];

/// A learned profile as `profile record` writes it, plus a flag and an argument rule.
const LEARNED: &str = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
  "flags": ["SECCOMP_FILTER_FLAG_LOG"],
  "syscalls": [
    {"names": ["write", "read", "exit_group", "execve", "futex"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 131080, "op": "SCMP_CMP_EQ"}]}
  ]
}
"#;

/// The python3 that has jsonschema, PyYAML and kubernetes-validate (`cargo xtask setup` puts
/// them in the one first on PATH).
fn python() -> &'static str {
    static PYTHON: OnceLock<&'static str> = OnceLock::new();
    PYTHON.get_or_init(|| {
        ["python3", "/usr/bin/python3"]
            .into_iter()
            .find(|python| {
                Command::new(python)
                    .args(["-c", "import jsonschema, yaml, kubernetes_validate"])
                    .output()
                    .is_ok_and(|out| out.status.success())
            })
            .expect(
                "no python3 with jsonschema, PyYAML and kubernetes-validate: run `cargo xtask setup`",
            )
    })
}

fn validate(args: &[&str], files: &[&Path]) -> Output {
    run(Command::new(python())
        .arg(script("k8s_validate.py"))
        .args(args)
        .args(files))
}

fn crd_check(files: &[&Path]) -> Output {
    let crd = reference("spo-seccompprofile-crd.yaml");
    validate(&["crd", crd.to_str().unwrap()], files)
}

fn profile(args: &[&str]) -> Output {
    run(Command::new(profile_bin()).args(args))
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn ok(output: &Output) {
    assert_eq!(output.status.code(), Some(0), "{}", describe(output));
}

fn learned(dir: &Path) -> PathBuf {
    let path = dir.join("web.json");
    std::fs::write(&path, LEARNED).unwrap();
    path
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}\n{text}", path.display()))
}

/// A YAML file's document, through PyYAML.
fn yaml(path: &Path) -> serde_json::Value {
    let output = validate(&["json"], &[path]);
    ok(&output);
    serde_json::from_str(&stdout(&output)).unwrap()
}

#[test]
fn spo_resources_validate_against_both_crd_versions() {
    let dir = scratch("k8s-spo-crd");
    let mut inputs = vec![
        ("web", learned(&dir)),
        ("moby", reference("moby-default.json")),
    ];
    if Path::new(PODMAN).exists() {
        inputs.push(("podman", PathBuf::from(PODMAN)));
    } else {
        eprintln!("{PODMAN} missing: podman's default not exported");
    }
    let mut files = Vec::new();
    for (name, input) in &inputs {
        let as_json = dir.join(format!("{name}-sp.json"));
        let as_yaml = dir.join(format!("{name}-sp.yaml"));
        for (out, yaml_flag) in [(&as_json, None), (&as_yaml, Some("--yaml"))] {
            let mut args = vec![
                "export",
                s(input),
                "--format",
                "spo",
                "--name",
                name,
                "-o",
                s(out),
            ];
            args.extend(X86_64);
            args.extend(yaml_flag);
            ok(&profile(&args));
        }
        assert_eq!(
            json(&as_json),
            yaml(&as_yaml),
            "{name}: YAML and JSON differ"
        );
        files.push(as_json);
        files.push(as_yaml);
    }
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = crd_check(&paths);
    ok(&output);
    let report = stdout(&output);
    assert_eq!(report.lines().count(), files.len(), "{report}");
    assert!(
        report.lines().all(|line| line.ends_with(": ok v1 v1beta1")),
        "{report}"
    );

    let web = json(&dir.join("web-sp.json"));
    assert_eq!(web["apiVersion"], "security-profiles-operator.x-k8s.io/v1");
    assert_eq!(web["kind"], "SeccompProfile");
    assert_eq!(web["metadata"], serde_json::json!({"name": "web"}));
    let rules = web["spec"]["syscalls"].as_array().unwrap();
    assert!(
        rules.contains(&serde_json::json!(
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        )),
        "{web:#}"
    );
}

#[test]
fn crd_check_rejects_fields_the_crd_lacks() {
    let dir = scratch("k8s-crd-negative");
    let out = dir.join("web-sp.json");
    ok(&profile(&[
        "export",
        s(&learned(&dir)),
        "--format",
        "spo",
        "-o",
        s(&out),
    ]));
    let mut resource = json(&out);
    resource["spec"]["defaultErrnoRet"] = 38.into();
    resource["spec"]["syscalls"][0]["comment"] = "learned".into();
    std::fs::write(&out, resource.to_string()).unwrap();
    let output = crd_check(&[&out]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    for part in [
        "v1: spec: Additional properties are not allowed ('defaultErrnoRet'",
        "v1beta1: spec: Additional properties are not allowed ('defaultErrnoRet'",
        "v1: spec.syscalls.0: Additional properties are not allowed ('comment'",
    ] {
        assert!(
            stdout(&output).contains(part),
            "{part:?}: {}",
            describe(&output)
        );
    }
}

#[test]
fn spo_says_what_the_crd_cannot_carry() {
    let dir = scratch("k8s-spo-warnings");
    let output = profile(&[
        "export",
        s(&learned(&dir)),
        "--format",
        "spo",
        "--name",
        "web",
    ]);
    ok(&output);
    assert!(!stdout(&output).contains("flags"), "{}", describe(&output));
    assert!(
        stderr(&output).contains("flags SECCOMP_FILTER_FLAG_LOG dropped"),
        "{}",
        describe(&output)
    );
    assert!(
        !stderr(&output).contains("defaultErrnoRet"),
        "errno 1 is EPERM: nothing lost"
    );

    let enosys = dir.join("enosys.json");
    std::fs::write(
        &enosys,
        LEARNED.replace("\"defaultErrnoRet\": 1", "\"defaultErrnoRet\": 38"),
    )
    .unwrap();
    let output = profile(&["export", s(&enosys), "--format", "spo", "--name", "web"]);
    ok(&output);
    assert!(
        stderr(&output).contains("no defaultErrnoRet")
            && stderr(&output).contains("EPERM")
            && stderr(&output).contains("errno 38 (ENOSYS)"),
        "{}",
        describe(&output)
    );

    for bad in ["Web", "web_1", "-web", ""] {
        let name = format!("--name={bad}");
        let output = profile(&["export", s(&enosys), "--format", "spo", &name]);
        assert_refused(&output, "DNS-1123");
    }
}

#[test]
fn oci_and_kubelet_never_carry_flags() {
    let dir = scratch("k8s-flags");
    let input = learned(&dir);
    for format in ["oci", "kubelet"] {
        let output = profile(&["export", s(&input), "--format", format]);
        ok(&output);
        assert!(
            stderr(&output).contains("flags SECCOMP_FILTER_FLAG_LOG dropped"),
            "{format}: {}",
            describe(&output)
        );
        let text = stdout(&output);
        assert!(!text.contains("flags"), "{format}: {text}");
        let written: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(written["defaultErrnoRet"], 1, "{format}: OCI keeps it");
    }
    // The docker form keeps them: Docker applies flags.
    let output = profile(&["export", s(&input), "--format", "docker"]);
    ok(&output);
    assert!(stdout(&output).contains("SECCOMP_FILTER_FLAG_LOG"));
}

/// --log-denials is the way to ask for the flag where the runtime takes it (crun, runc 1.2):
/// kept in every runtime-bound form, the SPO resource still valid against the CRD.
#[test]
fn log_denials_keeps_the_log_flag_for_runtimes_that_take_it() {
    let dir = scratch("k8s-log-denials");
    let mut bare: serde_json::Value = serde_json::from_str(LEARNED).unwrap();
    bare["flags"] = serde_json::json!([]);
    let input = dir.join("bare.json");
    std::fs::write(&input, bare.to_string()).unwrap();
    for format in ["oci", "kubelet"] {
        let output = profile(&["export", s(&input), "--format", format, "--log-denials"]);
        ok(&output);
        assert!(
            stderr(&output).contains("runc 1.1") && stderr(&output).contains("refuses"),
            "{format}: {}",
            describe(&output)
        );
        let written: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(
            written["flags"],
            serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"]),
            "{format}"
        );
    }
    let resource = dir.join("spo.json");
    ok(&profile(&[
        "export",
        s(&input),
        "--format",
        "spo",
        "--name",
        "web",
        "--log-denials",
        "-o",
        s(&resource),
    ]));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&resource).unwrap()).unwrap();
    assert_eq!(
        written["spec"]["flags"],
        serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"])
    );
    ok(&crd_check(&[&resource]));
    let kubelet = dir.join("kubelet/seccomp");
    ok(&profile(&[
        "install",
        s(&input),
        "--name",
        "web",
        "--kubelet-dir",
        s(&kubelet),
        "--log-denials",
    ]));
    let installed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(kubelet.join("profiles/web.json")).unwrap())
            .unwrap();
    assert_eq!(
        installed["flags"],
        serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"])
    );
    // The docker form keeps flags anyway: asking is a mistake, said so.
    let output = profile(&["export", s(&input), "--format", "docker", "--log-denials"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains("--log-denials applies to"),
        "{}",
        describe(&output)
    );
}

#[test]
fn kubelet_file_and_pod_snippet_validate() {
    let dir = scratch("k8s-kubelet");
    let input = learned(&dir);
    let out = dir.join("out.json");
    let snippet = dir.join("snippet.json");
    let snippet_yaml = dir.join("snippet.yaml");
    ok(&profile(&[
        "export",
        s(&input),
        "--format",
        "kubelet",
        "--name",
        "web",
        "-o",
        s(&out),
        "--pod-snippet",
        s(&snippet),
    ]));
    ok(&profile(&[
        "export",
        s(&input),
        "--format",
        "kubelet",
        "--name",
        "web",
        "-o",
        "/dev/null",
        "--pod-snippet",
        s(&snippet_yaml),
        "--yaml",
    ]));
    let expected = serde_json::json!({"securityContext": {"seccompProfile": {
        "type": "Localhost", "localhostProfile": "profiles/web.json"}}});
    assert_eq!(json(&snippet), expected);
    assert_eq!(yaml(&snippet_yaml), expected);
    for version in KUBERNETES {
        let output = validate(&["pod", version], &[&snippet, &snippet_yaml]);
        ok(&output);
        assert_eq!(
            stdout(&output).matches(": ok ").count(),
            4,
            "{}",
            describe(&output)
        );
    }

    // The file is what `--format oci` writes, and `profile check` reads it.
    let oci = profile(&["export", s(&input), "--format", "oci"]);
    ok(&oci);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), stdout(&oci));
    ok(&profile(&["check", s(&out)]));

    // Without --pod-snippet the snippet goes to stderr, after where to install the file.
    let output = profile(&["export", s(&input), "--format", "kubelet", "-o", s(&out)]);
    ok(&output);
    let err = stderr(&output);
    assert!(
        err.contains("/var/lib/kubelet/seccomp/profiles/web.json"),
        "{err}"
    );
    assert!(
        err.contains("\"localhostProfile\": \"profiles/web.json\""),
        "{err}"
    );
}

#[test]
fn pod_check_rejects_a_misspelt_or_unknown_type() {
    let dir = scratch("k8s-pod-negative");
    let misspelt = dir.join("misspelt.json");
    std::fs::write(
        &misspelt,
        r#"{"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfle": "profiles/web.json"}}}"#,
    )
    .unwrap();
    let unknown_type = dir.join("type.json");
    std::fs::write(
        &unknown_type,
        r#"{"securityContext": {"seccompProfile": {"type": "LocalHost", "localhostProfile": "profiles/web.json"}}}"#,
    )
    .unwrap();
    let output = validate(&["pod", KUBERNETES[1]], &[&misspelt, &unknown_type]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report = stdout(&output);
    assert!(
        report.contains("'localhostProfle' was unexpected"),
        "{report}"
    );
    assert!(report.contains("'LocalHost' is not Localhost"), "{report}");
}

#[test]
fn install_writes_the_file_for_the_kubelet() {
    let dir = scratch("k8s-install");
    let input = learned(&dir);
    let kubelet = dir.join("kubelet/seccomp");
    // A restrictive umask must not make the profile unreadable.
    let output = run(Command::new("sh")
        .arg("-c")
        .arg("umask 077; exec \"$@\"")
        .arg("sh")
        .arg(profile_bin())
        .args([
            "install",
            s(&input),
            "--name",
            "web",
            "--kubelet-dir",
            s(&kubelet),
        ]));
    ok(&output);
    let installed = kubelet.join("profiles/web.json");
    let mode = std::fs::metadata(&installed).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "{}", installed.display());
    let kubelet_form = profile(&["export", s(&input), "--format", "kubelet", "-q"]);
    assert_eq!(
        std::fs::read_to_string(&installed).unwrap(),
        stdout(&kubelet_form)
    );
    assert!(
        stderr(&output).contains("localhostProfile: profiles/web.json"),
        "{}",
        describe(&output)
    );
    let snippet = dir.join("snippet.json");
    std::fs::write(&snippet, stdout(&output)).unwrap();
    ok(&validate(&["pod", KUBERNETES[1]], &[&snippet]));

    // Again, as YAML, with the name from the file: the same file, replaced.
    let output = profile(&["install", s(&input), "--kubelet-dir", s(&kubelet), "--yaml"]);
    ok(&output);
    assert_eq!(
        stdout(&output),
        "securityContext:\n  seccompProfile:\n    type: Localhost\n    localhostProfile: profiles/web.json\n"
    );
    let entries: Vec<_> = std::fs::read_dir(kubelet.join("profiles"))
        .unwrap()
        .collect();
    assert_eq!(entries.len(), 1, "no temporary file left behind");
}

#[test]
fn install_refuses_names_that_leave_the_folder() {
    let dir = scratch("k8s-install-names");
    let input = learned(&dir);
    let kubelet = dir.join("kubelet");
    for (name, reason) in [
        ("a/b", "'/'"),
        ("..", "'..'"),
        ("../web", "'..'"),
        ("x/../../y", "'..'"),
        ("", "empty"),
    ] {
        let output = profile(&[
            "install",
            s(&input),
            "--name",
            name,
            "--kubelet-dir",
            s(&kubelet),
        ]);
        assert_refused(&output, "cannot name a profile file");
        assert_refused(&output, reason);
    }
    assert!(!kubelet.exists(), "nothing written for refused names");
}

#[test]
fn kubernetes_options_need_a_kubernetes_format() {
    let dir = scratch("k8s-options");
    let input = learned(&dir);
    for args in [
        vec!["--format", "oci", "--yaml"],
        vec!["--format", "docker", "--name", "web"],
        vec!["--format", "spo", "--pod-snippet", "x.json"],
    ] {
        let mut all = vec!["export", s(&input)];
        all.extend(&args);
        let output = profile(&all);
        assert_refused(&output, "applies to --format");
    }
}

#[test]
fn record_writes_an_spo_resource_directly() {
    require_root();
    let dir = scratch("k8s-record-spo");
    for (file, extra) in [("web.json", &[][..]), ("web.yaml", &["--yaml"][..])] {
        let out = dir.join(file);
        let mut args = vec!["record", "--format", "spo", "--name", "web", "-o", s(&out)];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "/bin/ls", "/"]);
        ok(&profile(&args));
        ok(&crd_check(&[&out]));
    }
    let resource = yaml(&dir.join("web.yaml"));
    assert_eq!(resource["metadata"]["name"], "web");
    assert_eq!(json(&dir.join("web.json")), resource);
    let names = resource["spec"]["syscalls"][0]["names"]
        .as_array()
        .unwrap()
        .clone();
    assert!(names.iter().any(|n| n == "getdents64"), "{resource:#}");
}

#[test]
fn record_writes_a_kubelet_file_and_says_how_to_use_it() {
    require_root();
    let out = scratch("k8s-record-kubelet").join("web.json");
    let output = profile(&[
        "record",
        "--format",
        "kubelet",
        "--name",
        "web",
        "-o",
        s(&out),
        "--",
        "/bin/true",
    ]);
    ok(&output);
    assert!(
        stderr(&output).contains("\"localhostProfile\": \"profiles/web.json\""),
        "{}",
        describe(&output)
    );
    let file = json(&out);
    assert_eq!(file["defaultAction"], "SCMP_ACT_ERRNO");
    assert!(file.get("flags").is_none());
    let refused = profile(&["record", "--format", "kubelet", "--", "/bin/true"]);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
}

#[test]
fn spo_resources_are_read_back_by_every_command() {
    let dir = scratch("k8s-spo-read");
    let spo = dir.join("moby-spo.json");
    let moby = reference("moby-default.json");
    let mut args = vec![
        "export",
        s(&moby),
        "--format",
        "spo",
        "--name",
        "moby",
        "-o",
        s(&spo),
    ];
    args.extend_from_slice(&X86_64);
    ok(&profile(&args));
    let check = profile(&["check", s(&spo)]);
    ok(&check);
    assert!(
        stdout(&check).contains("spec of a SeccompProfile resource"),
        "{}",
        describe(&check)
    );
    // The resource allows exactly what the resolved profile it came from allows.
    let oci = dir.join("moby-oci.json");
    let mut args = vec!["export", s(&moby), "--format", "oci", "-o", s(&oci)];
    args.extend_from_slice(&X86_64);
    ok(&profile(&args));
    let diff = profile(&["diff", s(&oci), s(&spo)]);
    assert_eq!(diff.status.code(), Some(0), "{}", describe(&diff));
}

/// `deploy/daemonset.yaml` (the Namespace and the DaemonSet of `profile daemon`) against the
/// strict schemas of every Kubernetes version from 1.27 to 1.37; the same manifest with a
/// misspelt field must fail. Its namespace carries the Pod Security labels that admit it, its
/// container the probes and the port Prometheus scrapes.
#[test]
fn daemonset_manifest_validates() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/daemonset.yaml");
    let versions: Vec<String> = (27..=37).map(|minor| format!("1.{minor}.0")).collect();
    for version in &versions {
        let output = validate(&["manifest", version], &[&manifest]);
        assert!(output.status.success(), "{}", describe(&output));
        assert_eq!(
            stdout(&output).matches(": ok ").count(),
            2,
            "{}",
            describe(&output)
        );
    }
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("hostPID: true"));
    for needed in [
        "pod-security.kubernetes.io/enforce: privileged",
        "path: /healthz",
        "--listen=0.0.0.0:9464",
        "containerPort: 9464",
    ] {
        assert!(text.contains(needed), "{needed} missing");
    }
    assert!(
        !text.contains("- --cgroup-root"),
        "the root is found on the node"
    );
    let dir = scratch("daemonset-misspelt");
    let bad = write(
        &dir,
        "bad.yaml",
        &text.replace("hostPID: true", "hostPid: true"),
    );
    let output = validate(&["manifest", "1.37.0"], &[&bad]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
}
