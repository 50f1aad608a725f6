use super::*;

/// Copies of ../shared/reference (real profiles of the projects we interoperate with).
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
const PODMAN: &str = "/usr/share/containers/seccomp.json";

fn reference(name: &str) -> String {
    std::fs::read_to_string(format!("{REFERENCE}/{name}"))
        .unwrap_or_else(|err| panic!("{REFERENCE}/{name}: {err}"))
}

fn schema_error(text: &str) -> (String, String) {
    match parse(text, "app.json") {
        Err(err @ ParseError::Schema { .. }) => {
            let ParseError::Schema { ref path, .. } = err else {
                unreachable!()
            };
            (path.clone(), err.to_string())
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
}

#[test]
fn syntax_errors_give_line_and_column() {
    let text = "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [,]\n}\n";
    let err = parse(text, "app.json").unwrap_err();
    let ParseError::Syntax { line, column, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*line, *column), (3, 16), "{err}");
    assert!(err.to_string().starts_with("app.json:3:16: "), "{err}");

    let err = parse("", "empty.json").unwrap_err();
    assert!(err.to_string().starts_with("empty.json:1:0: EOF"), "{err}");
    let err = parse("{\"defaultAction\": \"SCMP_ACT_ALLOW\"} x", "t.json").unwrap_err();
    assert!(matches!(err, ParseError::Syntax { line: 1, .. }), "{err}");
}

#[test]
fn schema_errors_give_the_json_path() {
    let text = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "syscalls": [
    {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_FOO"}]}
  ]
}"#;
    let (path, message) = schema_error(text);
    assert_eq!(path, "syscalls[1].args[0].op");
    assert!(
        message.starts_with(
            "app.json: syscalls[1].args[0].op: unknown operator \"SCMP_CMP_FOO\" (line 6"
        ),
        "{message}"
    );

    let cases = [
        (
            r#"{"defaultAction": "SCMP_ACT_NOPE"}"#,
            "defaultAction",
            "unknown action \"SCMP_ACT_NOPE\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]}"#,
            "architectures[1]",
            "unknown architecture \"SCMP_ARCH_VAX\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": "x", "op": "SCMP_CMP_EQ"}]}]}"#,
            "syscalls[0].args[0].value",
            "invalid type: string \"x\", expected u64",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}"#,
            "syscalls[0]",
            "missing field `action`",
        ),
        (r#"{"syscalls": []}"#, ".", "missing field `defaultAction`"),
        (
            r#""a string""#,
            ".",
            "invalid type: string \"a string\", expected a seccomp profile",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}"#,
            "flags",
            "unknown flag \"SECCOMP_FILTER_FLAG_NOPE\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
            "syscalls[0].args[0].index",
            "6 is out of range",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}"#,
            "syscalls[0].names",
            "at least one syscall",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_ERRNO"}]}"#,
            "syscalls[0].names[1]",
            "empty syscall name",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ERRNO"}]}"#,
            "syscalls[0]",
            "both \"name\" and \"names\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errno": "EFOO"}]}"#,
            "syscalls[0].errno",
            "unknown errno name \"EFOO\"",
        ),
        // One errno range for every command (compile, run, export and check alike).
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}"#,
            "defaultErrnoRet",
            "5000 is out of range: it must be an errno from 1 to 4094",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 65536}]}"#,
            "syscalls[0].errnoRet",
            "65536 is out of range",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}]}"#,
            "syscalls[0].errnoRet",
            "0 is out of range",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4095}"#,
            "defaultErrnoRet",
            "4095 is out of range",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_TRACE", "errnoRet": 65536}]}"#,
            "syscalls[0].errnoRet",
            "65536 is out of range: it must be SCMP_ACT_TRACE's data",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "defaultErrno": "ENOSYS"}"#,
            "defaultErrno",
            "names errno 38 (ENOSYS) but the number beside it is 1",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "4"}}]}"#,
            "syscalls[0].includes.minKernel",
            "invalid kernel version \"4\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}]}"#,
            "archMap",
            "both \"architectures\" and \"archMap\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": -1}]}"#,
            "syscalls[0].errnoRet",
            "invalid value: integer `-1`, expected u32",
        ),
    ];
    for (text, want_path, want_message) in cases {
        let (path, message) = schema_error(text);
        assert_eq!(path, want_path, "{message}");
        assert!(
            message.contains(want_message),
            "{message:?} lacks {want_message:?}"
        );
        assert!(message.starts_with("app.json: "), "{message}");
    }
}

#[test]
fn errors_inside_a_config_json_have_the_full_path() {
    let text = r#"{"ociVersion": "1.0.2", "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_BOGUS"}]}}}"#;
    let (path, message) = schema_error(text);
    assert_eq!(path, "linux.seccomp.syscalls[0].action", "{message}");

    let ok = r#"{"ociVersion": "1.0.2", "process": {}, "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "x": 1}]}}}"#;
    let parsed = parse(ok, "config.json").unwrap();
    assert_eq!(parsed.embedded, Some("linux.seccomp of a config.json"));
    assert_eq!(parsed.dialect, Dialect::Oci);
    assert_eq!(parsed.profile.syscalls[0].names, ["read"]);
    assert_eq!(
            parsed.warnings,
            ["config.json: linux.seccomp.syscalls[0].x: unknown field, ignored (runc and crun ignore it too)"]
        );

    let (path, _) = schema_error(r#"{"ociVersion": "1.0.2", "linux": {}}"#);
    assert_eq!(path, "linux.seccomp");
}

#[test]
fn unknown_fields_are_warnings_with_their_path() {
    let text = r#"{"defaultAction": "SCMP_ACT_ALLOW", "frobnicate": true,
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ", "extra": [1]}],
                          "includes": {"caps": ["CAP_SYS_ADMIN"], "colour": "red"}}]}"#;
    let parsed = parse(text, "u.json").unwrap();
    let paths: Vec<&str> = parsed
        .warnings
        .iter()
        .map(|w| w.split(": ").nth(1).unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "frobnicate",
            "syscalls[0].args[0].extra",
            "syscalls[0].includes.colour"
        ],
        "{:?}",
        parsed.warnings
    );
    assert_eq!(parsed.dialect, Dialect::Docker);
}

#[test]
fn deprecated_name_is_accepted_with_a_warning() {
    let text = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"name": "getcwd", "action": "SCMP_ACT_ALLOW"}]}"#;
    let parsed = parse(text, "old.json").unwrap();
    assert_eq!(parsed.profile.syscalls[1].names, ["getcwd"]);
    assert_eq!(parsed.dialect, Dialect::Docker);
    assert_eq!(parsed.warnings.len(), 1);
    let warning = &parsed.warnings[0];
    assert!(
        warning.starts_with("old.json: syscalls[1]: \"name\": \"getcwd\" is deprecated"),
        "{warning}"
    );
}

#[test]
fn containers_errno_names_become_numbers() {
    let text = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOSYS", "syscalls": [
            {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errno": "EPERM"},
            {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "errno": "EINVAL"},
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "errno": ""}]}"#;
    let parsed = parse(text, "c.json").unwrap();
    assert_eq!(parsed.dialect, Dialect::Containers);
    assert_eq!(parsed.profile.default_errno_ret, Some(38));
    let errnos: Vec<_> = parsed
        .profile
        .syscalls
        .iter()
        .map(|r| r.errno_ret)
        .collect();
    assert_eq!(errnos, [Some(1), Some(22), None]);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(errno_number("EWOULDBLOCK"), Some(11));
    assert_eq!(errno_name(38), Some("ENOSYS"));
}

#[test]
fn docker_fields_are_read() {
    let parsed = parse(&reference("moby-default.json"), "moby-default.json").unwrap();
    assert_eq!(parsed.dialect, Dialect::Docker);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let p = &parsed.profile;
    assert_eq!(p.default_action, Action::Errno);
    assert_eq!(p.default_errno_ret, Some(1));
    assert!(p.architectures.is_empty());
    assert_eq!(p.arch_map.len(), 9);
    assert_eq!(p.arch_map[0].architecture, Arch::X86_64);
    assert_eq!(p.arch_map[0].sub_architectures, [Arch::X86, Arch::X32]);
    // "subArchitectures": null
    assert_eq!(p.arch_map[7].architecture, Arch::Riscv64);
    assert!(p.arch_map[7].sub_architectures.is_empty());
    assert_eq!(p.syscalls[0].names.len(), 361);
    assert_eq!(p.syscalls[1].includes.min_kernel.as_deref(), Some("4.8"));
    let clone_s390 = p
        .syscalls
        .iter()
        .find(|r| r.comment.is_some())
        .expect("a rule with a comment");
    assert_eq!(clone_s390.includes.arches, ["s390", "s390x"]);
    assert_eq!(clone_s390.excludes.caps, ["CAP_SYS_ADMIN"]);
    assert!(p.has_docker_fields());

    let older = parse(
        &reference("moby-moby-default-before-split-2025-07.json"),
        "older.json",
    )
    .unwrap();
    assert_eq!(older.dialect, Dialect::Docker);
    assert!(older.warnings.is_empty(), "{:?}", older.warnings);
}

#[test]
fn podmans_default_is_read_if_installed() {
    let Ok(text) = std::fs::read_to_string(PODMAN) else {
        eprintln!("{PODMAN} missing (apt-get install podman): skipped");
        return;
    };
    let parsed = parse(&text, PODMAN).unwrap();
    assert_eq!(parsed.dialect, Dialect::Containers);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.profile.default_errno_ret, Some(38));
    let rules = value["syscalls"].as_array().unwrap();
    assert_eq!(parsed.profile.syscalls.len(), rules.len());
    for (rule, raw) in parsed.profile.syscalls.iter().zip(rules) {
        let names: Vec<&str> = raw["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert_eq!(rule.names, names);
        // errno names agree with errnoRet, so both read as the same number.
        assert_eq!(rule.errno_ret.map(u64::from), raw["errnoRet"].as_u64());
    }
}

#[test]
fn canonical_form_round_trips() {
    let mut texts = vec![
            ("moby", reference("moby-default.json")),
            (
                "moby-old",
                reference("moby-moby-default-before-split-2025-07.json"),
            ),
            (
                "unsorted",
                r#"{"defaultAction": "SCMP_ACT_KILL_PROCESS", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                   "flags": ["SECCOMP_FILTER_FLAG_LOG"], "listenerPath": "/run/l.sock",
                   "syscalls": [{"names": ["write", "read", "write"], "action": "SCMP_ACT_ALLOW", "comment": ""},
                                {"names": ["kill"], "action": "SCMP_ACT_TRACE", "errnoRet": 7,
                                 "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_NE"}, {"index": 0, "value": 4095, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]}]}"#
                    .to_owned(),
            ),
        ];
    if let Ok(podman) = std::fs::read_to_string(PODMAN) {
        texts.push(("podman", podman));
    }
    for (name, text) in texts {
        let first = parse(&text, name).unwrap().profile;
        let written = first.to_canonical_json();
        let again = parse(&written, name).unwrap();
        assert!(again.warnings.is_empty(), "{name}: {:?}", again.warnings);
        let mut canonical = first.clone();
        canonical.canonicalize();
        assert_eq!(again.profile, canonical, "{name}");
        assert_eq!(again.profile.to_canonical_json(), written, "{name}");
        assert_eq!(
            again.profile.to_json(),
            written,
            "{name}: canonical is a fixed point"
        );
        // Names are sorted, each once, in every rule.
        for rule in &again.profile.syscalls {
            assert!(rule.names.windows(2).all(|w| w[0] < w[1]), "{name}");
        }
    }
}

#[test]
fn bad_input_never_panics() {
    let text = reference("moby-default.json");
    let bytes = text.as_bytes();
    // Every prefix on a stride, and single-byte corruptions: each gives Ok or an error.
    for end in (0..bytes.len()).step_by(7) {
        let _ = parse(&String::from_utf8_lossy(&bytes[..end]), "t.json");
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut mutated = bytes.to_vec();
        let at = (seed % mutated.len() as u64) as usize;
        let alphabet = b"{}[]\":,0-9aZ \n";
        mutated[at] = alphabet[(seed >> 32) as usize % alphabet.len()];
        if let Err(err) = parse(&String::from_utf8_lossy(&mutated), "t.json") {
            assert!(err.to_string().starts_with("t.json"), "{err}");
        }
    }
}
