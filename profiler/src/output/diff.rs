//! A [`Diff`] as `profile diff` prints it: text shaped like `diff -u`, or JSON.
use serde_json::{json, Value};

use super::escape;
use crate::{
    profile::ops::{Change, Diff, Verdict},
    syscalls::Arch,
};

/// The texts of a diff (a trait so that the diff itself stays data).
pub trait DiffText {
    /// Human-readable, as `diff -u` starts: `--- old` / `+++ new`, then one line per changed
    /// field and, per group of architectures with the same changes, one line per variant with
    /// `+name` for added and `-name` for removed names. Empty when nothing changed.
    fn to_text(&self, old_name: &str, new_name: &str) -> String;
    /// The same as JSON: `equal`, `defaultAction` (`{old, new}` or null), `architectures`,
    /// `flags` (`{added, removed}`), `listener`, and `syscalls`: per `SCMP_ARCH_…` a list of
    /// `{action, errnoRet?, args?, added, removed}`.
    fn to_json(&self) -> String;
}

impl DiffText for Diff {
    fn to_text(&self, old_name: &str, new_name: &str) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut out = format!("--- {}\n+++ {}\n", escape(old_name), escape(new_name));
        if let Some((old, new)) = &self.default {
            out.push_str(&format!("default: {old} -> {new}\n"));
        }
        let signed = |added: &[String], removed: &[String]| -> String {
            added
                .iter()
                .map(|a| format!("+{}", escape(a)))
                .chain(removed.iter().map(|r| format!("-{}", escape(r))))
                .collect::<Vec<_>>()
                .join(" ")
        };
        if !self.architectures_added.is_empty() || !self.architectures_removed.is_empty() {
            let names = |arches: &[Arch]| -> Vec<String> {
                arches.iter().map(|a| a.short_name().to_owned()).collect()
            };
            out.push_str(&format!(
                "architectures: {}\n",
                signed(
                    &names(&self.architectures_added),
                    &names(&self.architectures_removed)
                )
            ));
        }
        if !self.flags_added.is_empty() || !self.flags_removed.is_empty() {
            out.push_str(&format!(
                "flags: {}\n",
                signed(&self.flags_added, &self.flags_removed)
            ));
        }
        for (field, old, new) in &self.listener {
            out.push_str(&format!(
                "{field}: {} -> {}\n",
                option_text(old),
                option_text(new)
            ));
        }
        // Architectures with identical changes share one block, in architecture order.
        let mut groups: Vec<(Vec<Arch>, &Vec<Change>)> = Vec::new();
        for (arch, changes) in &self.syscalls {
            match groups.iter_mut().find(|(_, c)| *c == changes) {
                Some((arches, _)) => arches.push(*arch),
                None => groups.push((vec![*arch], changes)),
            }
        }
        for (arches, changes) in groups {
            let names: Vec<&str> = arches.iter().map(|a| a.short_name()).collect();
            out.push_str(&format!("{}:\n", names.join(", ")));
            for change in changes {
                out.push_str(&format!(
                    "  {}: {}\n",
                    change.variant,
                    signed(&change.added, &change.removed)
                ));
            }
        }
        out
    }

    fn to_json(&self) -> String {
        let verdict = |v: &Verdict| {
            let mut obj = json!({ "action": v.action.to_string() });
            if let Some(errno) = v.errno_ret {
                obj["errnoRet"] = json!(errno);
            }
            obj
        };
        let arches =
            |list: &[Arch]| -> Vec<String> { list.iter().map(|a| a.scmp_name()).collect() };
        let mut syscalls = serde_json::Map::new();
        for (arch, changes) in &self.syscalls {
            let list: Vec<Value> = changes
                .iter()
                .map(|change| {
                    let mut obj = verdict(&change.variant.verdict);
                    if !change.variant.args.is_empty() {
                        obj["args"] = json!(change.variant.args);
                    }
                    obj["added"] = json!(change.added);
                    obj["removed"] = json!(change.removed);
                    obj
                })
                .collect();
            syscalls.insert(arch.scmp_name(), Value::Array(list));
        }
        let listener: serde_json::Map<String, Value> = self
            .listener
            .iter()
            .map(|(field, old, new)| (field.to_string(), json!({ "old": old, "new": new })))
            .collect();
        let value = json!({
            "equal": self.is_empty(),
            "defaultAction": self.default.as_ref().map(|(old, new)| json!({
                "old": verdict(old),
                "new": verdict(new),
            })),
            "architectures": {
                "added": arches(&self.architectures_added),
                "removed": arches(&self.architectures_removed),
            },
            "flags": { "added": self.flags_added, "removed": self.flags_removed },
            "listener": listener,
            "syscalls": syscalls,
        });
        let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialise");
        text.push('\n');
        text
    }
}

fn option_text(value: &Option<String>) -> String {
    match value {
        Some(value) => format!("{value:?}"),
        None => "none".to_owned(),
    }
}
