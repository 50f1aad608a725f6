use serde_json::{json, Value};

use super::*;
use crate::output::diff::DiffText as _;

fn profile(json: &str) -> Profile {
    serde_json::from_str(json).unwrap_or_else(|err| panic!("{err}: {json}"))
}

/// A profile as `profile record` writes it: names allowed, clone3 ENOSYS unless seen.
fn recorded(arches: &[&str], names: &[&str]) -> Profile {
    let mut rules = vec![json!({ "names": names, "action": "SCMP_ACT_ALLOW" })];
    if !names.contains(&"clone3") {
        rules.push(json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }));
    }
    profile(
        &json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": arches,
            "syscalls": rules,
        })
        .to_string(),
    )
}

fn merged(inputs: &[(&str, &Profile)]) -> Merged {
    let inputs: Vec<Input> = inputs
        .iter()
        .map(|(source, profile)| Input { source, profile })
        .collect();
    merge(&inputs).unwrap()
}

fn messages(merged: &Merged) -> Vec<String> {
    merged.conflicts.iter().map(|c| c.message.clone()).collect()
}

fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            out.push(tail);
        }
    }
    out
}

#[test]
fn every_order_of_three_inputs_gives_the_same_bytes_and_warnings() {
    let a = recorded(&["SCMP_ARCH_X86_64"], &["read", "write", "exit_group"]);
    let b = recorded(
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        &["read", "clone3", "getppid"],
    );
    let c = profile(
        r#"{"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X32"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls": [
                  {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                  {"names": ["write", "ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
                  {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}
                ]}"#,
    );
    let inputs = [("a.json", &a), ("b.json", &b), ("c.json", &c)];
    let first = merged(&inputs);
    let bytes = first.profile.to_canonical_json();
    for order in permutations(&inputs) {
        let other = merged(&order);
        assert_eq!(other.profile.to_canonical_json(), bytes, "order {order:?}");
        assert_eq!(other.conflicts, first.conflicts, "order {order:?}");
    }
    let expected = r#"{
  "defaultAction": "SCMP_ACT_LOG",
  "architectures": [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32"
  ],
  "flags": [
    "SECCOMP_FILTER_FLAG_LOG"
  ],
  "syscalls": [
    {
      "names": [
        "clone3",
        "exit_group",
        "getppid",
        "read",
        "write"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "names": [
        "personality"
      ],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {
          "index": 0,
          "value": 0,
          "op": "SCMP_CMP_EQ"
        }
      ]
    },
    {
      "names": [
        "personality"
      ],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {
          "index": 0,
          "value": 8,
          "op": "SCMP_CMP_EQ"
        }
      ]
    },
    {
      "names": [
        "ptrace"
      ],
      "action": "SCMP_ACT_KILL_PROCESS"
    }
  ]
}
"#;
    assert_eq!(bytes, expected);
    assert_eq!(
            messages(&first),
            [
                "default actions differ (a.json, b.json SCMP_ACT_ERRNO(1); c.json SCMP_ACT_LOG): kept SCMP_ACT_LOG (the most permissive; between errnos the smaller)",
                "write: c.json has SCMP_ACT_KILL_PROCESS; a.json has SCMP_ACT_ALLOW: kept SCMP_ACT_ALLOW (an unconditional allow wins)",
            ]
        );
}

#[test]
fn replicas_merge_into_the_union_and_a_seen_clone3_replaces_the_fallback_quietly() {
    let a = recorded(&["SCMP_ARCH_X86_64"], &["read", "clone3"]);
    let b = recorded(&["SCMP_ARCH_X86_64"], &["read", "openat"]);
    let m = merged(&[("a.json", &a), ("b.json", &b)]);
    assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    assert_eq!(
        m.profile,
        recorded(&["SCMP_ARCH_X86_64"], &["clone3", "openat", "read"])
    );
}

#[test]
fn the_clone3_fallback_stays_when_nobody_allows_clone3() {
    let a = recorded(&["SCMP_ARCH_X86_64"], &["read"]);
    let b = recorded(&["SCMP_ARCH_X86_64"], &["write"]);
    let m = merged(&[("a.json", &a), ("b.json", &b)]);
    assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    assert_eq!(
        m.profile,
        recorded(&["SCMP_ARCH_X86_64"], &["read", "write"])
    );
    // A merge of one profile is that profile, in the canonical layout.
    let one = merged(&[("a.json", &a)]);
    assert_eq!(one.profile, a);
    assert!(one.conflicts.is_empty());
}

#[test]
fn an_audit_result_is_folded_into_a_recording() {
    let recording = recorded(&["SCMP_ARCH_X86_64"], &["read", "write"]);
    let seen = profile(
        r#"{"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["uname", "getpid"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let m = merged(&[("web.json", &recording), ("seen.json", &seen)]);
    assert_eq!(
        m.profile.syscalls[0].names,
        ["getpid", "read", "uname", "write"]
    );
    assert_eq!(m.profile.syscalls[1].names, ["clone3"]);
    assert_eq!(m.profile.default_action, Action::Log);
    assert_eq!(m.profile.default_errno_ret, None);
    // The default disagreement is the only conflict; promote drops it.
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].kind, ConflictKind::Default);
    // `profile audit` writes default ERRNO(1), as record does: nothing to report then.
    let audit = Profile {
        default_action: Action::Errno,
        default_errno_ret: Some(1),
        ..seen.clone()
    };
    let m = merged(&[("web.json", &recording), ("seen.json", &audit)]);
    assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    assert_eq!(
        m.profile,
        recorded(&["SCMP_ARCH_X86_64"], &["getpid", "read", "uname", "write"])
    );
}

#[test]
fn conditional_allows_beat_other_actions_and_unconditional_allows_beat_conditions() {
    let cond = profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_NE"}]}]}"#,
    );
    let other = profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let m = merged(&[("cond.json", &cond), ("other.json", &other)]);
    assert_eq!(
            messages(&m),
            [
                "personality: other.json has SCMP_ACT_ERRNO(22); cond.json has SCMP_ACT_ALLOW if arg0 == 4294967295: kept SCMP_ACT_ALLOW if arg0 == 4294967295 (the union of the allow rules wins)",
                "socket: cond.json has SCMP_ACT_ALLOW if arg0 != 16; other.json has SCMP_ACT_ALLOW: kept SCMP_ACT_ALLOW (an unconditional allow wins)",
            ]
        );
    let rules: Vec<String> = m
        .profile
        .syscalls
        .iter()
        .map(|r| format!("{} {}", r.names.join(","), Variant::of(r)))
        .collect();
    assert_eq!(
        rules,
        [
            "socket SCMP_ACT_ALLOW",
            "personality SCMP_ACT_ALLOW if arg0 == 4294967295"
        ]
    );
}

#[test]
fn without_an_allow_the_most_permissive_action_wins() {
    let a = profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    );
    let b = profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": [
                {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    let m = merged(&[("a.json", &a), ("b.json", &b)]);
    // ERRNO without errnoRet is EPERM: the same as errnoRet 1, not a conflict.
    assert_eq!(
            messages(&m),
            ["ptrace: a.json has SCMP_ACT_KILL_PROCESS; b.json has SCMP_ACT_ERRNO(38): kept SCMP_ACT_ERRNO(38) (nobody allows it: the most permissive action wins)"]
        );
    assert_eq!(m.profile.default_errno_ret, Some(1));
}

#[test]
fn a_block_against_a_logging_default_is_reported() {
    let a = profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"}]}"#,
    );
    let b = profile(r#"{"defaultAction": "SCMP_ACT_LOG"}"#);
    let m = merged(&[("a.json", &a), ("b.json", &b)]);
    assert_eq!(
            messages(&m),
            [
                "default actions differ (a.json SCMP_ACT_ERRNO(1); b.json SCMP_ACT_LOG): kept SCMP_ACT_LOG (the most permissive; between errnos the smaller)",
                "ptrace: b.json lets it through by default; a.json has SCMP_ACT_KILL_PROCESS: kept SCMP_ACT_KILL_PROCESS (explicit rules win over another input's default)",
            ]
        );
}

#[test]
fn stage_then_promote_gives_the_recording_back() {
    let p = recorded(&["SCMP_ARCH_X86_64"], &["read", "write"]);
    let staged = stage(&p);
    assert_eq!(staged.default_action, Action::Log);
    assert_eq!(staged.default_errno_ret, None);
    assert_eq!(staged.syscalls, p.syscalls);
    assert_eq!(promote(&staged, Enforce::Errno(1)).unwrap(), p);
    let killing = promote(&staged, Enforce::KillProcess).unwrap();
    assert_eq!(killing.default_action, Action::KillProcess);
    assert_eq!(killing.default_errno_ret, None);
    assert_eq!(stage(&killing), staged);
    let eacces = promote(&staged, Enforce::Errno(13)).unwrap();
    assert_eq!(eacces.default_errno_ret, Some(13));
}

#[test]
fn promote_refuses_a_deny_list() {
    let p = profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(promote(&p, Enforce::Errno(1)), Err(OpError::AllowDefault));
}

#[test]
fn diff_text_and_json_for_fixed_inputs() {
    let old = recorded(&["SCMP_ARCH_X86_64"], &["read", "write", "mmap"]);
    let new = profile(
        r#"{"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "syscalls": [
                  {"names": ["write", "read", "openat", "socketcall"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["mmap"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 2, "value": 4, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                  {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
                ]}"#,
    );
    let d = diff(&old, &new, Arch::X86_64);
    // socketcall is i386's only; x86_64's table lacks it, so only i386 gains it.
    assert_eq!(
        d.to_text("old.json", "new.json"),
        "\
--- old.json
+++ new.json
default: SCMP_ACT_ERRNO(1) -> SCMP_ACT_LOG
architectures: +i386
x86_64:
  SCMP_ACT_ALLOW: +openat -mmap
  SCMP_ACT_ALLOW if arg2 & 0x4 == 0x0: +mmap
i386:
  SCMP_ACT_ALLOW: +openat +read +socketcall +write
  SCMP_ACT_ALLOW if arg2 & 0x4 == 0x0: +mmap
  SCMP_ACT_ERRNO(38): +clone3
"
    );
    let json: Value = serde_json::from_str(&d.to_json()).unwrap();
    assert_eq!(json["equal"], false);
    assert_eq!(
        json["defaultAction"]["old"],
        json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 1})
    );
    assert_eq!(
        json["defaultAction"]["new"],
        json!({"action": "SCMP_ACT_LOG"})
    );
    assert_eq!(json["architectures"]["added"], json!(["SCMP_ARCH_X86"]));
    assert_eq!(
        json["syscalls"]["SCMP_ARCH_X86_64"],
        json!([
            {"action": "SCMP_ACT_ALLOW", "added": ["openat"], "removed": ["mmap"]},
            {"action": "SCMP_ACT_ALLOW",
             "args": [{"index": 2, "value": 4, "op": "SCMP_CMP_MASKED_EQ"}],
             "added": ["mmap"], "removed": []}
        ])
    );
    // The other way round, additions become removals.
    let back = diff(&new, &old, Arch::X86_64);
    assert_eq!(back.architectures_removed, [Arch::X86]);
    assert_eq!(back.syscalls[&Arch::X86_64][0].removed, ["openat"]);
}

#[test]
fn diff_ignores_layout_and_groups_equal_architectures() {
    let a = recorded(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], &["read", "write"]);
    let b = profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "syscalls": [
                  {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                  {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["read", "read"], "action": "SCMP_ACT_ALLOW"}
                ]}"#,
    );
    let d = diff(&a, &b, Arch::X86_64);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(d.to_text("a", "b"), "");
    assert!(d.to_json().contains("\"equal\": true"));
    let c = recorded(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], &["read", "getpid"]);
    assert_eq!(
        diff(&a, &c, Arch::X86_64).to_text("a", "c"),
        "--- a\n+++ c\nx86_64, i386:\n  SCMP_ACT_ALLOW: +getpid -write\n"
    );
}

#[test]
fn merge_output_differs_from_an_input_only_by_what_it_adds() {
    let a = recorded(&["SCMP_ARCH_X86_64"], &["read"]);
    let b = recorded(&["SCMP_ARCH_X86_64"], &["read", "uname"]);
    let m = merged(&[("a", &a), ("b", &b)]);
    assert_eq!(
        diff(&a, &m.profile, Arch::X86_64).to_text("a", "m"),
        "--- a\n+++ m\nx86_64:\n  SCMP_ACT_ALLOW: +uname\n"
    );
    assert!(diff(&b, &m.profile, Arch::X86_64).is_empty());
}

#[test]
fn allow_unruled_adds_only_names_without_rules() {
    let mut profile = profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
                {"names":["read"],"action":"SCMP_ACT_ALLOW"},
                {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
                {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
    );
    let names = ["read", "readv", "socket", "clone3", "_llseek", "no_such"].into();
    let added = allow_unruled(&mut profile, &names, Arch::X86_64);
    assert_eq!(added, ["readv"]);
    assert_eq!(profile.syscalls.len(), 4);
    assert_eq!(profile.syscalls[3].names, ["readv"]);
    assert!(allow_unruled(&mut profile, &names, Arch::X86_64).is_empty());
    assert_eq!(profile.syscalls.len(), 4);
}
