//! The one-line progress display of a long recording: elapsed time, distinct syscalls so far,
//! processes followed. Shown on stderr only when stderr is a terminal and the user did not ask
//! for quiet (`-q`); silent when piped or redirected, so logs and scripts never see it.
//!
//! The record loop owns a [`Progress`] and calls [`Progress::update`] on a timer (once a
//! second is plenty); [`Progress::finish`] clears the line before the final messages.
use std::{
    io::{IsTerminal as _, Write as _},
    time::{Duration, Instant},
};

/// The progress line's text, without control characters: `recording 1m05s: 42 distinct
/// syscalls, 3 processes followed`.
pub fn format(elapsed: Duration, distinct: usize, followed: usize) -> String {
    let secs = elapsed.as_secs();
    let time = match (secs / 3600, secs / 60 % 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    };
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "recording {time}: {}, {} followed",
        plural(distinct, "distinct syscall", "distinct syscalls"),
        plural(followed, "process", "processes")
    )
}

/// Whether to show progress: stderr is a terminal and warnings are not silenced (`-q` sets the
/// log level to errors only).
pub fn wanted() -> bool {
    std::io::stderr().is_terminal() && log::max_level() >= log::LevelFilter::Warn
}

/// A progress line on stderr, redrawn in place; does nothing when not [`wanted`].
pub struct Progress {
    enabled: bool,
    started: Instant,
    shown: bool,
}

impl Progress {
    /// Starts the clock; shows nothing yet.
    pub fn start() -> Progress {
        Progress::new(wanted())
    }

    pub fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            started: Instant::now(),
            shown: false,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Redraws the line with the current numbers.
    pub fn update(&mut self, distinct: usize, followed: usize) {
        if !self.enabled {
            return;
        }
        let line = format(self.started.elapsed(), distinct, followed);
        let mut err = std::io::stderr().lock();
        // \r and "erase line": the new text replaces the old whatever their lengths.
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.shown = true;
    }

    /// Clears the line, so what follows starts on a clean one.
    pub fn finish(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_progress_line() {
        assert_eq!(
            format(Duration::from_millis(5_900), 1, 1),
            "recording 5s: 1 distinct syscall, 1 process followed"
        );
        assert_eq!(
            format(Duration::from_secs(65), 42, 3),
            "recording 1m05s: 42 distinct syscalls, 3 processes followed"
        );
        assert_eq!(
            format(Duration::from_secs(3 * 3600 + 7), 0, 0),
            "recording 3h00m07s: 0 distinct syscalls, 0 processes followed"
        );
    }

    #[test]
    fn report_progress_disabled_draws_nothing() {
        let mut progress = Progress::new(false);
        progress.update(1, 1);
        assert!(!progress.shown);
    }
}
