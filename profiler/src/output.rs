//! Writing results: atomically to a file (temp file in the same directory, fsync, rename), so a
//! reader never sees half a profile, or to stdout. A path that is not a regular file (`/dev/null`,
//! `/dev/stdout`, a FIFO) is written in place: renaming over it would replace the device.
use std::{
    fs::{self, File},
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::Path,
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

/// One line to stderr that is neither a warning nor an error (what a command did), shown
/// unless `-q` asked for errors only.
pub fn notice(message: &str) {
    if log::log_enabled!(log::Level::Warn) {
        eprintln!("profile: {}", escape(message));
    }
}

#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {source}")]
pub struct WriteError {
    pub path: String,
    pub source: io::Error,
}

pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.display().to_string(),
        source,
    };
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|mut file| file.write_all(contents))
                .map_err(err);
        }
        // Replace what a symlink points to, not the link.
        Ok(_) if fs::symlink_metadata(path).is_ok_and(|meta| meta.is_symlink()) => {
            let target = fs::canonicalize(path).map_err(err)?;
            return write_atomic(&target, contents);
        }
        _ => {}
    }
    let name = path.file_name().ok_or_else(|| {
        err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Writes to `path`, or to stdout when there is none.
pub fn emit(path: Option<&Path>, contents: &str) -> Result<(), WriteError> {
    match path {
        Some(path) => write_atomic(path, contents.as_bytes()),
        None => {
            let mut stdout = io::stdout().lock();
            stdout
                .write_all(contents.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|source| WriteError {
                    path: "stdout".into(),
                    source,
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("getppid"), "getppid");
        assert_eq!(
            escape("a\nb\x1b[2Jc\td\u{9b}"),
            "a\\nb\\u{1b}[2Jc\\td\\u{9b}"
        );
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("profiler-output-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temp() {
        let dir = scratch("replace");
        let path = dir.join("p.json");
        fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn devices_are_written_in_place() {
        use std::os::unix::fs::FileTypeExt;
        write_atomic(Path::new("/dev/null"), b"discarded").unwrap();
        assert!(fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn a_symlink_keeps_pointing_at_the_new_contents() {
        let dir = scratch("symlink");
        let target = dir.join("real.json");
        fs::write(&target, "old").unwrap();
        let link = dir.join("link.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = scratch("missing");
        let path = dir.join("no/such/dir/p.json");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(err.to_string().contains("no/such/dir/p.json"), "{err}");
    }
}
