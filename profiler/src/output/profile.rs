//! What a profile allows, in words: argument conditions (`only if arg0 == 1`), the names a
//! recorded profile added without seeing them, and the coverage hints. Shared by `record
//! --format report` and `profile report`.
use super::table::{Align, Table};
use crate::profile::{groups::Hint, ops::Allowance, ArgCondition};

fn ways(ways: &[Vec<ArgCondition>]) -> String {
    ways.iter()
        .map(|conds| {
            conds
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" && ")
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// `only if …`, `except if …`, or empty for always.
pub fn allowance_text(allowance: &Allowance) -> String {
    match allowance {
        Allowance::Always => String::new(),
        Allowance::When(w) => format!("only if {}", ways(w)),
        Allowance::Unless(w) => format!("except if {}", ways(w)),
    }
}

/// Two aligned columns, each line indented by two spaces.
fn columns<'a>(rows: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut table = Table::new(&[Align::Left, Align::Left]).indented(2);
    for (name, text) in rows {
        table.row([name.to_owned(), text]);
    }
    table.render()
}

/// What a recorded profile allows although the recording did not see it: the implied calls
/// with their reasons, and per `--allow-group` the names it added. Empty when nothing was.
pub fn additions_text(implied: &[(&str, &str)], groups: &[(&str, Vec<&str>)]) -> String {
    let mut out = String::new();
    if !implied.is_empty() {
        out.push_str("implied (allowed although not seen; --no-implied leaves them out):\n");
        out.push_str(&columns(
            implied
                .iter()
                .map(|(name, reason)| (*name, reason.to_string())),
        ));
    }
    let groups: Vec<&(&str, Vec<&str>)> = groups
        .iter()
        .filter(|(_, names)| !names.is_empty())
        .collect();
    if !groups.is_empty() {
        out.push_str("added by --allow-group:\n");
        out.push_str(&columns(
            groups
                .iter()
                .map(|(group, names)| (*group, names.join(" "))),
        ));
    }
    out
}

/// The coverage hints: per systemd group, unseen calls of the families of allowed ones.
pub fn hints_text(hints: &[Hint]) -> String {
    if hints.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "hints: not allowed, but siblings of allowed calls that another path of the program \
         may use (--allow-group GROUP adds a group):\n",
    );
    out.push_str(&columns(hints.iter().map(|hint| {
        (
            hint.group,
            format!("{} (like {})", hint.unseen.join(" "), hint.like.join(" ")),
        )
    })));
    out
}
