//! Writing results: atomically to a file (temp file in the same directory, fsync, rename), so a
//! reader never sees half a profile, or to stdout. A path that is not a regular file (`/dev/null`,
//! `/dev/stdout`, a FIFO) is written in place: renaming over it would replace the device.
use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsStr,
    fs::{self, File},
    io::{self, Write},
    os::{
        fd::AsRawFd as _,
        unix::{ffi::OsStrExt as _, fs::OpenOptionsExt},
    },
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {source}")]
pub struct WriteError {
    pub path: String,
    pub source: io::Error,
}

impl WriteError {
    fn at(path: &Path) -> impl Fn(io::Error) -> WriteError + '_ {
        move |source| WriteError {
            path: path.display().to_string(),
            source,
        }
    }

    /// Whether it was stdout whose reader went away (`profile status | head -c1`).
    pub fn is_broken_pipe(&self) -> bool {
        self.path == STDOUT && self.source.kind() == io::ErrorKind::BrokenPipe
    }
}

const STDOUT: &str = "stdout";
/// Longest file name (NAME_MAX).
const NAME_MAX: usize = 255;
/// How many temporary names a write tries before it gives up.
const TEMP_TRIES: u64 = 64;
/// What [`check_writable`] writes to prove there is room: more than most profiles.
const PROBE_BYTES: usize = 64 << 10;

/// Numbers temporary names, so that writes of one process never pick the same one.
static TEMP_SERIAL: AtomicU64 = AtomicU64::new(0);

/// Where `path` is really written: itself, or what a symlink to a regular file points to
/// (replacing the link would cut it). `None` for something written in place (a device, a FIFO).
fn destination(path: &Path) -> io::Result<Option<PathBuf>> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(io::Error::from_raw_os_error(libc::EISDIR)),
        Ok(meta) if !meta.is_file() => Ok(None),
        Ok(_) if fs::symlink_metadata(path).is_ok_and(|meta| meta.is_symlink()) => {
            fs::canonicalize(path).map(Some)
        }
        _ => Ok(Some(path.to_owned())),
    }
}

/// The directory and file name of `path`.
fn split(path: &Path) -> io::Result<(&Path, &OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

/// The temporary name for `name`, number `serial`: `.NAME.tmp.PID.SERIAL`, with the start of NAME
/// cut when the whole would be longer than NAME_MAX (the end, with the extension, is kept).
fn temp_name(name: &OsStr, serial: u64) -> Vec<u8> {
    let suffix = format!(".tmp.{}.{serial}", std::process::id());
    let room = NAME_MAX - 1 - suffix.len();
    let name = name.as_bytes();
    let kept = &name[name.len().saturating_sub(room)..];
    [b".", kept, suffix.as_bytes()].concat()
}

/// What a temporary file of [`write_atomic`] called `name` stands for (the target's name, its
/// start possibly cut), or `None` when `name` is not one.
fn temp_target(name: &[u8]) -> Option<&[u8]> {
    let numbered = |text: &[u8]| !text.is_empty() && text.iter().all(u8::is_ascii_digit);
    let rest = name.strip_prefix(b".")?;
    let (rest, last) = rest.split_at(rest.iter().rposition(|&b| b == b'.')?);
    let last = &last[1..];
    // `.NAME.tmp.PID.SERIAL`, or `.NAME.tmp.PID` as earlier versions named them.
    let rest = match rest.strip_suffix(b".tmp") {
        Some(rest) if numbered(last) => rest,
        _ => {
            let (rest, pid) = rest.split_at(rest.iter().rposition(|&b| b == b'.')?);
            if !numbered(last) || !numbered(&pid[1..]) {
                return None;
            }
            rest.strip_suffix(b".tmp")?
        }
    };
    (!rest.is_empty()).then_some(rest)
}

/// Creates a new temporary file for `name` in `dir`, locked (see [`remove_stale_temps`]). Only a
/// file this call created is ever returned, so only such a file is ever removed.
fn create_temp(dir: &Path, name: &OsStr) -> io::Result<(PathBuf, File)> {
    for _ in 0..TEMP_TRIES {
        let serial = TEMP_SERIAL.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(OsStr::from_bytes(&temp_name(name, serial)));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
        {
            Ok(file) => {
                // SAFETY: flock on a descriptor we own.
                if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                    let err = io::Error::last_os_error();
                    let _ = fs::remove_file(&tmp);
                    return Err(err);
                }
                return Ok((tmp, file));
            }
            // Someone else's file under that name: never touched, another name is tried.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{TEMP_TRIES} temporary names in {} were taken",
            dir.display()
        ),
    ))
}

/// A new temporary file for `name` in `dir` (see [`create_temp`]) holding `contents`, not yet
/// synced; nothing is left behind when writing fails.
fn write_temp(dir: &Path, name: &OsStr, contents: &[u8]) -> io::Result<(PathBuf, File)> {
    let (tmp, mut file) = create_temp(dir, name)?;
    match file.write_all(contents) {
        Ok(()) => Ok((tmp, file)),
        Err(error) => {
            let _ = fs::remove_file(&tmp);
            Err(error)
        }
    }
}

pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let err = WriteError::at(path);
    let Some(target) = destination(path).map_err(&err)? else {
        return fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut file| file.write_all(contents))
            .map_err(err);
    };
    let (dir, name) = split(&target).map_err(&err)?;
    let (tmp, file) = write_temp(dir, name, contents).map_err(&err)?;
    let mut renamed = false;
    let result = (|| {
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        renamed = true;
        // Make the rename itself durable.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() && !renamed {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Atomic writes of many files made durable together, for the daemon's flushes: each file goes
/// to a temporary name first, then one `syncfs` per directory makes all of them durable, then
/// they are renamed into place and each directory is synced once. [`write_atomic`] of N files
/// costs N flushes of the disk's cache, which on a VM's virtio disk is most of the daemon's CPU
/// when it writes thousands of workloads; this costs one. Files are staged in groups (one
/// workload's files) that succeed or fail together; at most [`Batch::MAX_FILES`] are open at
/// once, so the caller commits when [`Batch::full`] says so.
pub struct Batch<K> {
    groups: Vec<(K, Vec<Staged>)>,
    files: usize,
}

struct Staged {
    tmp: PathBuf,
    target: PathBuf,
    /// Kept open: its lock tells [`remove_stale_temps`] of another process it is in use.
    _file: File,
}

impl<K> Default for Batch<K> {
    fn default() -> Self {
        Batch {
            groups: Vec::new(),
            files: 0,
        }
    }
}

impl<K> Batch<K> {
    /// Open temporary files a batch holds at most.
    pub const MAX_FILES: usize = 256;

    pub fn full(&self) -> bool {
        self.files >= Self::MAX_FILES
    }

    /// Writes `files` (path, contents) to temporary files; on an error none of them stays.
    pub fn stage(&mut self, key: K, files: &[(PathBuf, Vec<u8>)]) -> Result<(), WriteError> {
        let mut staged = Vec::with_capacity(files.len());
        for (path, contents) in files {
            let err = WriteError::at(path);
            let result = (|| {
                let target = destination(path)?.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file's path")
                })?;
                let (dir, name) = split(&target)?;
                let (tmp, file) = write_temp(dir, name, contents)?;
                Ok(Staged {
                    tmp,
                    target,
                    _file: file,
                })
            })();
            match result {
                Ok(file) => staged.push(file),
                Err(source) => {
                    for file in &staged {
                        let _ = fs::remove_file(&file.tmp);
                    }
                    return Err(err(source));
                }
            }
        }
        self.files += staged.len();
        self.groups.push((key, staged));
        Ok(())
    }

    /// Makes every staged file durable and puts it in place; each group's outcome, in the order
    /// staged.
    pub fn commit(self) -> Vec<(K, Result<(), WriteError>)> {
        let dir_of = |file: &Staged| file.target.parent().unwrap_or(Path::new("/")).to_owned();
        let dirs: BTreeSet<PathBuf> = self
            .groups
            .iter()
            .flat_map(|(_, files)| files.iter().map(dir_of))
            .collect();
        // One flush of each file system the files are on, before any of them is renamed.
        let synced: BTreeMap<PathBuf, io::Result<File>> = dirs
            .into_iter()
            .map(|dir| {
                let result = File::open(&dir).and_then(|handle| {
                    // SAFETY: syncfs on a descriptor we own.
                    if unsafe { libc::syncfs(handle.as_raw_fd()) } == 0 {
                        Ok(handle)
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
                (dir, result)
            })
            .collect();
        let copy = |error: &io::Error| io::Error::new(error.kind(), error.to_string());
        let mut outcomes = Vec::with_capacity(self.groups.len());
        for (key, files) in self.groups {
            let mut result = Ok(());
            for file in &files {
                let dir = dir_of(file);
                let renamed = match (&result, &synced[&dir]) {
                    (Err(_), _) => Err(None),
                    (Ok(()), Err(error)) => Err(Some(WriteError::at(&dir)(copy(error)))),
                    (Ok(()), Ok(_)) => fs::rename(&file.tmp, &file.target)
                        .map_err(|error| Some(WriteError::at(&file.target)(error))),
                };
                if let Err(error) = renamed {
                    let _ = fs::remove_file(&file.tmp);
                    if let Some(error) = error {
                        result = Err(error);
                    }
                }
            }
            let dirs: BTreeSet<PathBuf> = files.iter().map(dir_of).collect();
            outcomes.push((key, result, dirs));
        }
        // The renames become durable with one sync of each directory.
        for (dir, handle) in &synced {
            let Ok(handle) = handle else { continue };
            if let Err(error) = handle.sync_all() {
                for (_, result, dirs) in &mut outcomes {
                    if result.is_ok() && dirs.contains(dir) {
                        *result = Err(WriteError::at(dir)(copy(&error)));
                    }
                }
            }
        }
        outcomes
            .into_iter()
            .map(|(key, result, _)| (key, result))
            .collect()
    }
}

/// Whether [`write_atomic`] could write `path` now: its directory exists and takes a new file
/// with room for a profile (a full disk, a read-only file system, a missing directory or a
/// directory in the file's place fail here, before anything is recorded). Leaves nothing behind.
pub fn check_writable(path: &Path) -> Result<(), WriteError> {
    let err = WriteError::at(path);
    let Some(target) = destination(path).map_err(&err)? else {
        return Ok(());
    };
    let (dir, name) = split(&target).map_err(&err)?;
    probe(dir, name).map_err(err)
}

/// [`check_writable`] for any new file in directory `dir`.
pub fn check_dir_writable(dir: &Path) -> Result<(), WriteError> {
    probe(dir, OsStr::new("probe")).map_err(WriteError::at(dir))
}

fn probe(dir: &Path, name: &OsStr) -> io::Result<()> {
    let (tmp, mut file) = create_temp(dir, name)?;
    let result = file
        .write_all(&[0; PROBE_BYTES])
        .and_then(|()| file.sync_all());
    let removed = fs::remove_file(&tmp);
    result.and(removed)
}

/// Keeps `contents`, which could not be written where they belonged, in a new file of the
/// temporary directory (or else the current one) named after `name`; returns its path.
pub fn keep_aside(name: &str, contents: &[u8]) -> Option<PathBuf> {
    let start = (name.len().saturating_sub(200)..=name.len())
        .find(|&i| name.is_char_boundary(i))
        .unwrap_or(name.len());
    let name = format!("profile-kept.{}.{}", std::process::id(), &name[start..]);
    [std::env::temp_dir(), PathBuf::from(".")]
        .into_iter()
        .find_map(|dir| {
            let (tmp, mut file) = create_temp(&dir, OsStr::new(&name)).ok()?;
            // Under its own name, never over someone else's file.
            let path = dir.join(&name);
            let kept = file
                .write_all(contents)
                .and_then(|()| file.sync_all())
                .and_then(|()| fs::hard_link(&tmp, &path));
            let _ = fs::remove_file(&tmp);
            kept.ok().map(|()| path)
        })
}

/// Removes the temporary files [`write_atomic`] left in `dir` (a writer killed between create
/// and rename) for targets `ours` accepts; a file a running writer holds is left alone, and so
/// is anything else. Returns the files removed.
pub fn remove_stale_temps(dir: &Path, ours: impl Fn(&OsStr) -> bool) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(target) = temp_target(name.as_bytes()) else {
            continue;
        };
        if !ours(OsStr::from_bytes(target)) || !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // SAFETY: flock on a descriptor we own; it is released when `file` is closed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
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
                    path: STDOUT.into(),
                    source,
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_puts_every_group_in_place_and_fails_a_group_alone() {
        let dir = scratch("batch");
        let file = |name: &str, text: &str| (dir.join(name), text.as_bytes().to_vec());
        let mut batch = Batch::default();
        batch
            .stage("a", &[file("a.json", "{}"), file("a.meta.json", "[]")])
            .unwrap();
        // Its second file cannot be staged: the first one's temporary file goes too.
        let err = batch
            .stage(
                "b",
                &[file("b.json", "{}"), file("missing/b.meta.json", "[]")],
            )
            .unwrap_err();
        assert!(err.path.ends_with("missing/b.meta.json"), "{}", err.path);
        batch.stage("c", &[file("c.json", "1")]).unwrap();
        assert!(!batch.full());
        let outcomes = batch.commit();
        assert_eq!(
            outcomes
                .iter()
                .map(|(key, result)| (*key, result.is_ok()))
                .collect::<Vec<_>>(),
            [("a", true), ("c", true)]
        );
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.json", "a.meta.json", "c.json"]);
        assert_eq!(fs::read_to_string(dir.join("a.meta.json")).unwrap(), "[]");
        let _ = fs::remove_dir_all(&dir);
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
    fn a_name_near_name_max_gets_a_temporary_name_that_fits() {
        let dir = scratch("long");
        for len in [200, 236, 245, 250, 255] {
            let name = format!("{}.json", "a".repeat(len - 5));
            write_atomic(&dir.join(&name), b"x").unwrap();
            assert_eq!(fs::read_to_string(dir.join(&name)).unwrap(), "x");
            let tmp = temp_name(OsStr::new(&name), u64::MAX);
            assert!(tmp.len() <= NAME_MAX, "{len}: {}", tmp.len());
            // The extension survives the cut.
            assert!(temp_target(&tmp).unwrap().ends_with(b".json"));
        }
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 5);
    }

    #[test]
    fn someone_elses_temporary_file_is_never_removed() {
        let dir = scratch("eexist");
        let pid = std::process::id();
        let next = TEMP_SERIAL.load(Ordering::Relaxed);
        let mut decoys = vec![dir.join(format!(".p.json.tmp.{pid}"))];
        decoys.extend((next..next + 8).map(|n| dir.join(format!(".p.json.tmp.{pid}.{n}"))));
        for decoy in &decoys {
            fs::write(decoy, "theirs").unwrap();
        }
        write_atomic(&dir.join("p.json"), b"ours").unwrap();
        assert_eq!(fs::read_to_string(dir.join("p.json")).unwrap(), "ours");
        for decoy in &decoys {
            assert_eq!(fs::read_to_string(decoy).unwrap(), "theirs");
        }
    }

    #[test]
    fn only_abandoned_temporary_files_of_our_targets_are_removed() {
        let dir = scratch("stale");
        let names = [
            ".a.json.tmp.12.3",
            ".b.json.meta.tmp.12",
            ".c.json.tmp.12.4",
            ".d.txt.tmp.12.5",
            ".e.json.tmp.x",
            ".vimrc.tmp",
            "f.json.tmp.1.2",
            "g.json",
        ];
        for name in names {
            fs::write(dir.join(name), "").unwrap();
        }
        // A live writer holds its file.
        let held = File::open(dir.join(".c.json.tmp.12.4")).unwrap();
        assert_eq!(
            unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
            0
        );
        let ours = |target: &OsStr| {
            let target = target.as_bytes();
            target.ends_with(b".json") || target.ends_with(b".json.meta")
        };
        let mut removed = remove_stale_temps(&dir, ours).unwrap();
        removed.sort();
        assert_eq!(
            removed,
            [
                dir.join(".a.json.tmp.12.3"),
                dir.join(".b.json.meta.tmp.12")
            ]
        );
        drop(held);
        assert_eq!(
            remove_stale_temps(&dir, ours).unwrap(),
            [dir.join(".c.json.tmp.12.4")]
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 5);
    }

    #[test]
    fn a_destination_is_checked_before_anything_is_written() {
        let dir = scratch("check");
        check_writable(&dir.join("p.json")).unwrap();
        check_writable(Path::new("/dev/null")).unwrap();
        let missing = check_writable(&dir.join("no/p.json")).unwrap_err();
        assert_eq!(missing.source.kind(), io::ErrorKind::NotFound);
        fs::create_dir(dir.join("d.json")).unwrap();
        let err = check_writable(&dir.join("d.json")).unwrap_err();
        assert_eq!(err.source.raw_os_error(), Some(libc::EISDIR), "{err}");
        assert!(write_atomic(&dir.join("d.json"), b"x").is_err());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = scratch("missing");
        let path = dir.join("no/such/dir/p.json");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(err.to_string().contains("no/such/dir/p.json"), "{err}");
    }
}
