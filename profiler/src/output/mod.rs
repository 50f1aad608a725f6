//! Everything profile writes for people and programs to read: the atomic writer ([`write`]),
//! aligned tables ([`table`]), YAML ([`yaml`]), the progress line ([`progress`]), the texts of
//! profiles, diffs and recordings; and the line-safe escaping and error chains every message
//! goes through.
pub mod diff;
pub mod profile;
pub mod progress;
pub mod recording;
pub mod table;
pub mod write;
pub mod yaml;

use std::error::Error;

pub use self::write::{
    check_dir_writable, check_writable, emit, keep_aside, remove_stale_temps, write_atomic, Batch,
    WriteError,
};

/// `text` fit for a terminal: control characters (newlines and escape sequences included) as
/// Rust escapes, so that a name from a profile, an audit record or a cgroup can neither move
/// the cursor nor forge a line of the output it is part of.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// An error and its causes on one line, `what: why: why…`, each cause once: our messages often
/// end with their source's text already (`writing F: Is a directory (os error 21)`), others leave
/// it to the chain (aya's "`bpf_map_delete_elem` failed", whose errno is only in its source).
pub fn error_text<'a>(chain: impl IntoIterator<Item = &'a (dyn Error + 'static)>) -> String {
    let mut text = String::new();
    for cause in chain {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

/// [`error_text`] of `err` and its sources.
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    error_text(std::iter::successors(Some(err), |&e| e.source()))
}

/// One line to stderr that is neither a warning nor an error (what a command did), shown
/// unless `-q` asked for errors only.
pub fn notice(message: &str) {
    if log::log_enabled!(log::Level::Warn) {
        eprintln!("profile: {}", escape(message));
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("getppid"), "getppid");
        assert_eq!(
            escape("a\nb\x1b[2Jc\td\u{9b}"),
            "a\\nb\\u{1b}[2Jc\\td\\u{9b}"
        );
    }

    #[test]
    fn causes_are_said_once() {
        let io = io::Error::from_raw_os_error(libc::EISDIR);
        let write = WriteError {
            path: "/tmp".into(),
            source: io,
        };
        assert_eq!(
            error_chain(&write),
            "writing /tmp: Is a directory (os error 21)"
        );
        #[derive(Debug, thiserror::Error)]
        #[error("`bpf_map_delete_elem` failed")]
        struct Syscall(#[source] io::Error);
        let syscall = Syscall(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(
            error_chain(&syscall),
            "`bpf_map_delete_elem` failed: No such file or directory (os error 2)"
        );
    }
}
