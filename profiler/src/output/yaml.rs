//! YAML for the documents profile writes (Kubernetes resources and snippets): block style as
//! kubectl lays it out, and every string that a plain scalar could misread quoted.
use crate::profile::k8s::Node;

/// Block-style YAML (kubectl's layout: list items at their key's indentation), strings
/// quoted whenever a plain scalar could be read as something else.
pub fn to_yaml(node: &Node) -> String {
    let mut out = String::new();
    match node {
        Node::Map(entries) if !entries.is_empty() => yaml_map(&mut out, entries, 0),
        Node::List(items) if !items.is_empty() => yaml_list(&mut out, items, 0),
        scalar => {
            out.push_str(&yaml_inline(scalar));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(out: &mut String, entries: &[(String, Node)], indent: usize) {
    for (i, (key, value)) in entries.iter().enumerate() {
        // The first entry of a map that is a list item follows its "- ".
        if i > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&yaml_scalar(key));
        out.push(':');
        match value {
            Node::Map(inner) if !inner.is_empty() => {
                out.push('\n');
                yaml_map(out, inner, indent + 2);
            }
            Node::List(items) if !items.is_empty() => {
                out.push('\n');
                yaml_list(out, items, indent);
            }
            scalar => {
                out.push(' ');
                out.push_str(&yaml_inline(scalar));
                out.push('\n');
            }
        }
    }
}

fn yaml_list(out: &mut String, items: &[Node], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Node::Map(inner) if !inner.is_empty() => yaml_map(out, inner, indent + 2),
            Node::List(inner) if !inner.is_empty() => {
                out.push('\n');
                yaml_list(out, inner, indent + 2);
            }
            scalar => {
                out.push_str(&yaml_inline(scalar));
                out.push('\n');
            }
        }
    }
}

/// A scalar or an empty collection on one line.
fn yaml_inline(node: &Node) -> String {
    match node {
        Node::Map(_) => "{}".to_owned(),
        Node::List(_) => "[]".to_owned(),
        Node::Str(text) => yaml_scalar(text),
        Node::Int(n) => n.to_string(),
        Node::Bool(b) => b.to_string(),
    }
}

/// Plain when it can only be read back as this string (in YAML 1.1 and 1.2), otherwise
/// double-quoted with JSON's escapes, which YAML's double-quoted style shares.
fn yaml_scalar(text: &str) -> String {
    const RESERVED: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf",
    ];
    let plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str());
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).expect("a string always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::k8s::{spo_resource, tests::learned, Flags};

    #[test]
    fn k8s_yaml_layout_and_quoting() {
        let (node, _) = spo_resource(&learned(), "web", Flags::Drop).unwrap();
        let yaml = to_yaml(&node);
        assert!(yaml.starts_with(
            "apiVersion: security-profiles-operator.x-k8s.io/v1\nkind: SeccompProfile\n\
             metadata:\n  name: web\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  architectures:\n  \
             - SCMP_ARCH_X86_64\n"
        ));
        assert!(
            yaml.contains(
                "  - names:\n    - clone3\n    action: SCMP_ACT_ERRNO\n    errnoRet: 38\n"
            ),
            "{yaml}"
        );
        assert!(
            yaml.contains(
                "    args:\n    - index: 0\n      value: 4294967295\n      op: SCMP_CMP_EQ\n"
            ),
            "{yaml}"
        );
        for (text, out) in [
            ("web", "web"),
            ("on", "\"on\""),
            ("No", "\"No\""),
            ("1.0", "\"1.0\""),
            ("", "\"\""),
            ("a: b", "\"a: b\""),
            ("-x", "\"-x\""),
            ("tab\there", "\"tab\\there\""),
        ] {
            assert_eq!(yaml_scalar(text), out, "{text:?}");
        }
        assert_eq!(to_yaml(&Node::Map(vec![])), "{}\n");
        assert_eq!(
            to_yaml(&Node::map([
                ("a", Node::List(vec![])),
                ("b", Node::Map(vec![]))
            ])),
            "a: []\nb: {}\n"
        );
    }
}
