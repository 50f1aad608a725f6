//! Output for Kubernetes and the runtimes it drives:
//!
//! - the file the kubelet reads for a `Localhost` seccomp profile (plain OCI `linux.seccomp`,
//!   which runc and crun apply as is) and the Pod `securityContext.seccompProfile` that uses it;
//! - a Security Profiles Operator `SeccompProfile` resource, whose `spec` has exactly the CRD's
//!   fields (`security-profiles-operator.x-k8s.io/v1`, cluster-scoped).
//!
//! Every runtime-bound output drops `flags` (runc 1.1 refuses a profile with any) unless asked
//! to log denials ([`Flags::LogDenials`], for crun and runc 1.2, see [`super::runtimes`]). The
//! CRD has no
//! `defaultErrnoRet`: SPO writes `defaultAction` alone to the node, so the runtime answers
//! unlisted calls with its own default, EPERM; a different default errno cannot be carried and is
//! reported. Per-rule `errnoRet` (clone3's ENOSYS) is in the CRD and kept.
//!
//! Documents are built as [`Node`] trees, which keep field order; they serialise as JSON, and
//! `output::yaml` writes them as YAML.
use std::fmt::Write as _;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{Action, Profile};

/// The Security Profiles Operator's API group and version for `SeccompProfile`.
pub const SPO_API_VERSION: &str = "security-profiles-operator.x-k8s.io/v1";
/// Where the kubelet looks for `Localhost` profiles (`<root-dir>/seccomp`, root-dir
/// `/var/lib/kubelet` by default).
pub const KUBELET_SECCOMP_DIR: &str = "/var/lib/kubelet/seccomp";
/// The folder under the kubelet's seccomp dir that `profile install` writes to.
pub const PROFILES_SUBDIR: &str = "profiles";
/// The errno runc and crun return for `SCMP_ACT_ERRNO` without an `errnoRet` (EPERM).
pub const RUNTIME_DEFAULT_ERRNO: u32 = 1;

/// The architectures the CRD's `spec.architectures` enum allows (SCMP_ARCH_NATIVE aside).
const SPO_ARCHES: [&str; 19] = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
];

/// The CRD's pattern for `spec.listenerPath`.
const SPO_LISTENER_DIR: &str = "/var/run/security-profiles-operator/";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum K8sError {
    #[error("{name:?} is not a valid resource name: {reason} (a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)")]
    ResourceName { name: String, reason: &'static str },
    #[error("{name:?} cannot name a profile file: {reason}")]
    FileName { name: String, reason: &'static str },
    #[error(
        "syscalls[{rule}].args[{arg}]: {field} {value} does not fit the SeccompProfile CRD's int64"
    )]
    ArgValue {
        rule: usize,
        arg: usize,
        field: &'static str,
        value: u64,
    },
    #[error("syscalls[{rule}]: errnoRet {errno} does not fit the SeccompProfile CRD's int32")]
    ErrnoRet { rule: usize, errno: u32 },
    #[error("syscalls[{rule}]: {count} argument conditions, the SeccompProfile CRD allows 6")]
    TooManyArgs { rule: usize, count: usize },
    #[error("listenerPath {path:?}: the SeccompProfile CRD only allows a socket directly in {SPO_LISTENER_DIR}")]
    ListenerPath { path: String },
    #[error("the profile still has Docker-only fields (archMap, includes, excludes, comment): resolve it for a target first")]
    Unresolved,
}

/// A document: mappings keep their order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
    Str(String),
    Int(u64),
    Bool(bool),
}

impl Node {
    pub fn map<const N: usize>(entries: [(&str, Node); N]) -> Node {
        Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    pub fn str(text: impl Into<String>) -> Node {
        Node::Str(text.into())
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a node always serialises");
        text.push('\n');
        text
    }

    /// The value at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
            Node::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Str(text) => serializer.serialize_str(text),
            Node::Int(n) => serializer.serialize_u64(*n),
            Node::Bool(b) => serializer.serialize_bool(*b),
        }
    }
}

/// Checks a Kubernetes object name (`metadata.name`): a DNS-1123 subdomain.
pub fn check_resource_name(name: &str) -> Result<(), K8sError> {
    let fail = |reason| {
        Err(K8sError::ResourceName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("it is empty");
    }
    if name.len() > 253 {
        return fail("it is longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return fail("it has an empty part between dots");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return fail("only lowercase letters, digits, '-' and '.' are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return fail("each part between dots must start and end with a letter or digit");
        }
    }
    Ok(())
}

/// The file name of a Localhost profile called `name`: `name.json` (or `name` when it already
/// ends in `.json`). Refuses what could leave the profiles folder or cannot be a file name.
pub fn profile_file_name(name: &str) -> Result<String, K8sError> {
    let fail = |reason| {
        Err(K8sError::FileName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("it is empty");
    }
    if name.contains('\0') {
        return fail("it contains a NUL byte");
    }
    // The name also goes into the Pod snippet and messages: one line, nothing a terminal acts on.
    if name.chars().any(char::is_control) {
        return fail("it contains a control character");
    }
    if name.contains("..") {
        return fail("it contains '..'");
    }
    if name.contains('/') {
        return fail("it contains '/'");
    }
    if name == "." || name == ".json" {
        return fail("it names no file");
    }
    let file = if name.ends_with(".json") {
        name.to_owned()
    } else {
        format!("{name}.json")
    };
    if file.len() > 255 {
        return fail("the file name would be longer than 255 bytes");
    }
    Ok(file)
}

/// `securityContext.seccompProfile.localhostProfile` for a profile installed as
/// `<kubelet seccomp dir>/profiles/<name>.json`.
pub fn localhost_profile(name: &str) -> Result<String, K8sError> {
    Ok(format!("{PROFILES_SUBDIR}/{}", profile_file_name(name)?))
}

/// `{"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": …}}}`:
/// goes into a Pod's `spec` or into one of its containers.
pub fn pod_snippet(localhost_profile: &str) -> Node {
    Node::map([(
        "securityContext",
        Node::map([(
            "seccompProfile",
            Node::map([
                ("type", Node::str("Localhost")),
                ("localhostProfile", Node::str(localhost_profile)),
            ]),
        )]),
    )])
}

/// What a runtime-bound output does with `flags`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flags {
    /// Dropped: runc 1.1 (and podman, containerd and the kubelet's runtimes on it) refuses a
    /// profile with any.
    #[default]
    Drop,
    /// Kept, with SECCOMP_FILTER_FLAG_LOG added, so that every denial reaches the audit stream:
    /// for crun and runc 1.2, which runc 1.1 refuses.
    LogDenials,
}

impl Flags {
    /// [`Flags::LogDenials`] when `log_denials`, else [`Flags::Drop`].
    pub fn log_denials_if(log_denials: bool) -> Flags {
        if log_denials {
            Flags::LogDenials
        } else {
            Flags::Drop
        }
    }
}

/// The profile as the runtimes take it, `flags` as `flags` says. Returns the warnings to print.
pub fn for_runtime(profile: &Profile, flags: Flags) -> (Profile, Vec<String>) {
    let mut out = profile.clone();
    let mut warnings = Vec::new();
    match flags {
        Flags::Drop if !out.flags.is_empty() => {
            warnings.push(format!(
                "flags {} dropped: runc 1.1 refuses a profile with any (--log-denials keeps \
                 them, for crun and runc 1.2)",
                out.flags.join(", ")
            ));
            out.flags.clear();
        }
        Flags::Drop => {}
        Flags::LogDenials => {
            if !out.flags.iter().any(|f| f == super::runtimes::FLAG_LOG) {
                out.flags.push(super::runtimes::FLAG_LOG.to_owned());
            }
            warnings.push(
                "flags kept: crun and runc 1.2 log every denial; runc 1.1 (Debian 12's, and \
                 podman, containerd or the kubelet on it) refuses the profile"
                    .to_owned(),
            );
        }
    }
    (out, warnings)
}

/// A `SeccompProfile` resource named `name` for a resolved profile, and the warnings to print
/// (what the CRD cannot carry and what was done instead).
pub fn spo_resource(
    profile: &Profile,
    name: &str,
    flags: Flags,
) -> Result<(Node, Vec<String>), K8sError> {
    check_resource_name(name)?;
    if profile.has_docker_fields() {
        return Err(K8sError::Unresolved);
    }
    let (profile, mut warnings) = for_runtime(profile, flags);
    let default_action = profile.default_action;
    if let Some(errno) = profile.default_errno_ret {
        // runc and crun use defaultErrnoRet for ERRNO and TRACE defaults only.
        if matches!(default_action, Action::Errno | Action::Trace) && errno != RUNTIME_DEFAULT_ERRNO
        {
            warnings.push(format!(
                "the SeccompProfile CRD has no defaultErrnoRet: syscalls outside the profile will \
                 fail with EPERM (the runtime's default for {}) instead of errno {errno}{}; use \
                 --format kubelet to keep it",
                default_action,
                if errno == super::ENOSYS {
                    " (ENOSYS)"
                } else {
                    ""
                }
            ));
        }
    }

    let mut spec = vec![(
        "defaultAction".to_owned(),
        Node::str(default_action.to_string()),
    )];
    let mut arches = Vec::new();
    for arch in &profile.architectures {
        let scmp = arch.scmp_name();
        if SPO_ARCHES.contains(&scmp.as_str()) {
            arches.push(Node::Str(scmp));
        } else {
            warnings.push(format!(
                "{} dropped from architectures: the SeccompProfile CRD does not allow it (only \
                 a node whose native architecture it is will still run its calls)",
                arch.scmp_name()
            ));
        }
    }
    if !arches.is_empty() {
        spec.push(("architectures".to_owned(), Node::List(arches)));
    }
    if !profile.flags.is_empty() {
        let flags = profile.flags.iter().map(Node::str).collect();
        spec.push(("flags".to_owned(), Node::List(flags)));
    }
    if let Some(path) = &profile.listener_path {
        let valid = path.strip_prefix(SPO_LISTENER_DIR).is_some_and(|file| {
            !file.is_empty()
                && file
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        });
        if !valid {
            return Err(K8sError::ListenerPath { path: path.clone() });
        }
        spec.push(("listenerPath".to_owned(), Node::str(path)));
    }
    if let Some(metadata) = &profile.listener_metadata {
        spec.push(("listenerMetadata".to_owned(), Node::str(metadata)));
    }
    let mut rules = Vec::new();
    for (i, rule) in profile.syscalls.iter().enumerate() {
        if rule.names.is_empty() {
            // Matches nothing; the CRD wants at least one name.
            continue;
        }
        if rule.args.len() > 6 {
            return Err(K8sError::TooManyArgs {
                rule: i,
                count: rule.args.len(),
            });
        }
        let mut names: Vec<&String> = rule.names.iter().collect();
        names.sort();
        names.dedup();
        let mut fields = vec![
            (
                "names".to_owned(),
                Node::List(names.into_iter().map(|n| Node::str(n.as_str())).collect()),
            ),
            ("action".to_owned(), Node::str(rule.action.to_string())),
        ];
        if let Some(errno) = rule.errno_ret {
            if errno > i32::MAX as u32 {
                return Err(K8sError::ErrnoRet { rule: i, errno });
            }
            fields.push(("errnoRet".to_owned(), Node::Int(errno.into())));
        }
        if !rule.args.is_empty() {
            let mut args = Vec::new();
            for (j, arg) in rule.args.iter().enumerate() {
                let int64 = |field, value: u64| {
                    if value > i64::MAX as u64 {
                        Err(K8sError::ArgValue {
                            rule: i,
                            arg: j,
                            field,
                            value,
                        })
                    } else {
                        Ok(Node::Int(value))
                    }
                };
                let mut a = vec![
                    ("index".to_owned(), Node::Int(arg.index.into())),
                    ("value".to_owned(), int64("value", arg.value)?),
                ];
                if arg.value_two != 0 {
                    a.push(("valueTwo".to_owned(), int64("valueTwo", arg.value_two)?));
                }
                let op = serde_json::to_value(arg.op)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .expect("operators serialise as strings");
                a.push(("op".to_owned(), Node::Str(op)));
                args.push(Node::Map(a));
            }
            fields.push(("args".to_owned(), Node::List(args)));
        }
        rules.push(Node::Map(fields));
    }
    if !rules.is_empty() {
        spec.push(("syscalls".to_owned(), Node::List(rules)));
    }
    let resource = Node::map([
        ("apiVersion", Node::str(SPO_API_VERSION)),
        ("kind", Node::str("SeccompProfile")),
        ("metadata", Node::map([("name", Node::str(name))])),
        ("spec", Node::Map(spec)),
    ]);
    Ok((resource, warnings))
}

/// Instructions for using a Localhost profile file named `file_name` from a Pod, for stderr.
pub fn kubelet_hint(file_name: &str, snippet: &str) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "install it on every node as {KUBELET_SECCOMP_DIR}/{PROFILES_SUBDIR}/{file_name} \
         (`profile install`), then use it from a Pod's or a container's spec with:"
    );
    text.push_str(snippet);
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{
        profile::{ArgCondition, ArgOp, SyscallRule, ENOSYS},
        syscalls::Arch,
    };

    pub(crate) fn learned() -> Profile {
        Profile {
            default_action: Action::Errno,
            default_errno_ret: Some(1),
            architectures: vec![Arch::X86_64, Arch::X86],
            flags: vec!["SECCOMP_FILTER_FLAG_LOG".into()],
            syscalls: vec![
                SyscallRule {
                    names: vec!["read".into(), "exit_group".into(), "read".into()],
                    action: Action::Allow,
                    ..SyscallRule::default()
                },
                SyscallRule {
                    names: vec!["clone3".into()],
                    action: Action::Errno,
                    errno_ret: Some(ENOSYS),
                    ..SyscallRule::default()
                },
                SyscallRule {
                    names: vec!["personality".into()],
                    action: Action::Allow,
                    args: vec![ArgCondition {
                        index: 0,
                        value: 0xffff_ffff,
                        value_two: 0,
                        op: ArgOp::Equal,
                    }],
                    ..SyscallRule::default()
                },
            ],
            ..Profile::default()
        }
    }

    #[test]
    fn k8s_spo_resource_has_the_crd_fields_in_order() {
        let (node, warnings) = spo_resource(&learned(), "web", Flags::Drop).unwrap();
        let json: serde_json::Value = serde_json::from_str(&node.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "apiVersion": "security-profiles-operator.x-k8s.io/v1",
                "kind": "SeccompProfile",
                "metadata": {"name": "web"},
                "spec": {
                    "defaultAction": "SCMP_ACT_ERRNO",
                    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                    "syscalls": [
                        {"names": ["exit_group", "read"], "action": "SCMP_ACT_ALLOW"},
                        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]},
                    ]
                }
            })
        );
        let text = node.to_json();
        assert!(text.find("apiVersion") < text.find("\"kind\""), "{text}");
        assert!(text.find("defaultAction") < text.find("syscalls"), "{text}");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("SECCOMP_FILTER_FLAG_LOG dropped"));
    }

    #[test]
    fn k8s_spo_default_errno_other_than_eperm_is_reported() {
        let mut profile = learned();
        profile.flags.clear();
        assert!(spo_resource(&profile, "web", Flags::Drop)
            .unwrap()
            .1
            .is_empty());
        profile.default_errno_ret = Some(ENOSYS);
        let (node, warnings) = spo_resource(&profile, "web", Flags::Drop).unwrap();
        assert!(!node.to_json().contains("defaultErrnoRet"));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("EPERM") && warnings[0].contains("errno 38 (ENOSYS)"),
            "{}",
            warnings[0]
        );
        profile.default_action = Action::KillProcess;
        assert!(spo_resource(&profile, "web", Flags::Drop)
            .unwrap()
            .1
            .is_empty());
    }

    #[test]
    fn k8s_spo_refuses_what_the_crd_cannot_hold() {
        let mut profile = learned();
        profile.syscalls[2].args[0].value = u64::MAX;
        assert!(matches!(
            spo_resource(&profile, "web", Flags::Drop),
            Err(K8sError::ArgValue {
                rule: 2,
                arg: 0,
                ..
            })
        ));
        let mut profile = learned();
        profile.listener_path = Some("/run/agent.sock".into());
        assert!(matches!(
            spo_resource(&profile, "web", Flags::Drop),
            Err(K8sError::ListenerPath { .. })
        ));
        profile.listener_path = Some("/var/run/security-profiles-operator/agent.sock".into());
        assert!(spo_resource(&profile, "web", Flags::Drop).is_ok());
        let mut profile = learned();
        profile.architectures.push(Arch::Loongarch64);
        let (node, warnings) = spo_resource(&profile, "web", Flags::Drop).unwrap();
        assert!(!node.to_json().contains("LOONGARCH"));
        assert!(warnings.iter().any(|w| w.contains("SCMP_ARCH_LOONGARCH64")));
        assert_eq!(
            spo_resource(&learned(), "Web", Flags::Drop),
            Err(K8sError::ResourceName {
                name: "Web".into(),
                reason: "only lowercase letters, digits, '-' and '.' are allowed"
            })
        );
    }

    #[test]
    fn k8s_resource_names_are_dns_1123_subdomains() {
        for good in ["web", "a", "web-1.prod", "0abc", &"a".repeat(253)] {
            assert_eq!(check_resource_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Web",
            "-web",
            "web-",
            "we_b",
            "web..x",
            ".web",
            "web.",
            "a/b",
            &"a".repeat(254),
        ] {
            assert!(check_resource_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn k8s_profile_file_names_stay_in_the_folder() {
        assert_eq!(profile_file_name("web").unwrap(), "web.json");
        assert_eq!(profile_file_name("web.json").unwrap(), "web.json");
        assert_eq!(profile_file_name("Web_1.v2").unwrap(), "Web_1.v2.json");
        for bad in [
            "",
            "a/b",
            "../web",
            "..",
            "a..b",
            "we\0b",
            ".",
            ".json",
            "/web",
            "a\nb",
            "a\x1b[2Jb",
            "a\u{9b}b",
            "w".repeat(251).as_str(),
        ] {
            assert!(profile_file_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(localhost_profile("web").unwrap(), "profiles/web.json");
    }

    #[test]
    fn k8s_pod_snippet_as_json_and_yaml() {
        let snippet = pod_snippet("profiles/web.json");
        assert_eq!(
            crate::output::yaml::to_yaml(&snippet),
            "securityContext:\n  seccompProfile:\n    type: Localhost\n    \
             localhostProfile: profiles/web.json\n"
        );
        let json: serde_json::Value = serde_json::from_str(&snippet.to_json()).unwrap();
        assert_eq!(
            json["securityContext"]["seccompProfile"]["localhostProfile"],
            "profiles/web.json"
        );
    }

    #[test]
    fn k8s_runc_output_never_has_flags() {
        let (profile, warnings) = for_runtime(&learned(), Flags::Drop);
        assert!(profile.flags.is_empty());
        assert!(!profile.to_json().contains("flags"));
        assert_eq!(warnings.len(), 1);
        let (_, warnings) = for_runtime(&profile, Flags::Drop);
        assert!(warnings.is_empty());
    }

    #[test]
    fn k8s_log_denials_keeps_flags_and_adds_the_log_flag() {
        let mut bare = learned();
        bare.flags = vec!["SECCOMP_FILTER_FLAG_SPEC_ALLOW".into()];
        let (profile, warnings) = for_runtime(&bare, Flags::LogDenials);
        assert_eq!(
            profile.flags,
            ["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"]
        );
        assert!(warnings[0].contains("runc 1.1"), "{warnings:?}");
        // Once only.
        assert_eq!(for_runtime(&profile, Flags::LogDenials).0.flags.len(), 2);
        let (node, _) = spo_resource(&bare, "web", Flags::LogDenials).unwrap();
        let json: serde_json::Value = serde_json::from_str(&node.to_json()).unwrap();
        assert_eq!(
            json["spec"]["flags"],
            serde_json::json!(["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"])
        );
    }
}
