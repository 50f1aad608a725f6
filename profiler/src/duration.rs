//! Durations given on the command line (`--duration`, `--linger`, `--flush-interval`): humantime's
//! syntax (`90s`, `5m`, `1h 30m`, `500ms`), bounded so that a deadline computed from one (now plus
//! the duration) can always be represented.
use std::time::Duration;

/// The longest duration accepted: far beyond any recording, far below what an `Instant` holds.
pub const MAX: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{text:?} is not a duration ({reason}): write e.g. 90s, 5m, 1h30m or 500ms")]
    Syntax { text: String, reason: String },
    #[error("{text:?} is longer than 100 years")]
    TooLong { text: String },
}

/// A duration of the command line.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let duration = humantime::parse_duration(text).map_err(|err| DurationError::Syntax {
        text: text.to_owned(),
        reason: err.to_string(),
    })?;
    if duration > MAX {
        return Err(DurationError::TooLong {
            text: text.to_owned(),
        });
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_bounded() {
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        for huge in ["18446744073709551615s", "101years", "5000000000000d"] {
            assert!(
                matches!(parse(huge), Err(DurationError::TooLong { .. })),
                "{huge}: {:?}",
                parse(huge)
            );
        }
        for bad in ["", "10", "1x", "18446744073709551616s", "-1s"] {
            assert!(
                matches!(parse(bad), Err(DurationError::Syntax { .. })),
                "{bad}: {:?}",
                parse(bad)
            );
        }
        assert!(std::time::Instant::now().checked_add(MAX).is_some());
    }
}
