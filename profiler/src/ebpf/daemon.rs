//! The daemon's kernel side: two programs for a whole cgroup root (`sys_enter_daemon`, which
//! learns, and `sys_exit_daemon`, which sees what seccomp denied), their maps, the programs and
//! their raw-tracepoint links pinned in bpffs under `<pin dir>/v<layout>/`, so that the kernel
//! keeps counting while no daemon runs and the next daemon adopts what was counted.
//!
//! What the pinned program watches is frozen into its `.rodata` (`CONFIG`: root id and level,
//! `--after-seccomp`); the `DAEMON_INFO` map records it with the map sizes and the program's
//! [`Variant`] (whose table is bits, or bytes on kernels without atomic OR). A daemon started
//! with other settings, or finding another layout version, replaces the set; the variant is
//! the kernel's, so a set pinned since boot always has the one that fits.
use std::{
    fmt, fs, io,
    os::fd::{AsFd as _, AsRawFd as _},
    path::{Path, PathBuf},
};

use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray},
    programs::{links::FdLink, links::PinnedLink, RawTracePoint},
};
use profiler_common::{
    CgroupSyscallKey, Config, DaemonInfo, Denial, SeenBytes, SeenSyscalls, CGROUP_ROOT,
    DAEMON_EVENT_DENIED, DAEMON_EVENT_DENIED_FULL, DAEMON_EVENT_NEW, DAEMON_EVENT_ODD_FULL,
    DAEMON_EVENT_SEEN_FULL, DAEMON_EVENT_TREE, DAEMON_LAYOUT_VERSION, DAEMON_VARIANT_510,
    DAEMON_VARIANT_CURRENT, EVENT_READ_FAILED, SEEN_WORDS, SYSCALL_TABLE_SIZE,
};

use super::{
    configure, explain,
    features::{self, Variant},
    program_error, program_mut, start_loading, Prepared, TracerError, OBJECT,
};
use crate::syscalls::Arch;

/// One attached program: which, on which tracepoint, and the names of its pins.
struct Hook {
    program: features::Program,
    tracepoint: &'static str,
    pin: &'static str,
    link: &'static str,
}

/// The enter hook last: a set is complete once its link, pinned last, is there.
const HOOKS: [Hook; 4] = [
    Hook {
        program: features::SYS_EXIT_DAEMON,
        tracepoint: "sys_exit",
        pin: "sys_exit_daemon",
        link: "link_exit",
    },
    Hook {
        program: features::CGROUP_RMDIR_DAEMON,
        tracepoint: "cgroup_rmdir",
        pin: "cgroup_rmdir_daemon",
        link: "link_rmdir",
    },
    Hook {
        program: features::CGROUP_RENAME_DAEMON,
        tracepoint: "cgroup_rename",
        pin: "cgroup_rename_daemon",
        link: "link_rename",
    },
    Hook {
        program: features::SYS_ENTER_DAEMON,
        tracepoint: "sys_enter",
        pin: "sys_enter_daemon",
        link: LINK,
    },
];
/// The enter hook's link, the last pin of a complete set.
const LINK: &str = "link";
/// The maps the daemon reads, by the names they are pinned under.
const SEEN: &str = "DAEMON_SEEN";
const SEEN_BYTES: &str = "DAEMON_SEEN_BYTES";
const ODD: &str = "DAEMON_ODD";
const DENIED: &str = "DAEMON_DENIED";
const EVENTS: &str = "DAEMON_EVENTS";
const INFO: &str = "DAEMON_INFO";
/// The record programs' event counters: the shared ABI and seccomp helpers note read failures
/// there.
const SHARED_EVENTS: &str = "EVENTS";
const PINNED_MAPS: [&str; 5] = [ODD, DENIED, EVENTS, INFO, SHARED_EVENTS];
/// The record programs' maps, which the daemon's object load creates too: one entry each.
const RECORD_MAPS: [&str; 5] = [
    "WATCHED",
    "COUNTS",
    "ODD_COUNTS",
    "CGROUP_TARGETS",
    "CGROUP_COUNTS",
];

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error(transparent)]
    Tracer(#[from] TracerError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("pinning {path}: {source}")]
    Pin {
        path: PathBuf,
        source: aya::pin::PinError,
    },
    #[error("opening pinned {path}: {source}")]
    FromPin {
        path: PathBuf,
        source: aya::maps::MapError,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PinError + 'a {
    move |source| PinError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

fn map_err(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> PinError {
    move |source| PinError::Tracer(TracerError::Map { name, source })
}

/// What the daemon's program is loaded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaemonSpec {
    pub root_id: u64,
    pub root_level: u32,
    pub after_seccomp: bool,
    pub max_cgroups: u32,
    pub max_odd: u32,
    pub max_denials: u32,
}

impl DaemonSpec {
    fn info(&self, variant: Variant) -> DaemonInfo {
        DaemonInfo {
            layout: DAEMON_LAYOUT_VERSION,
            root_level: self.root_level,
            root_id: self.root_id,
            after_seccomp: u32::from(self.after_seccomp),
            max_cgroups: self.max_cgroups,
            max_odd: self.max_odd,
            variant: match variant {
                Variant::Current => DAEMON_VARIANT_CURRENT,
                Variant::Linux510 => DAEMON_VARIANT_510,
            },
            max_denials: self.max_denials,
            _pad: 0,
        }
    }

    /// The variant of a set loaded for these settings.
    fn loaded_for(&self, info: &DaemonInfo) -> Option<Variant> {
        [Variant::Current, Variant::Linux510]
            .into_iter()
            .find(|&variant| *info == self.info(variant))
    }
}

/// The map of each cgroup's syscalls in `variant`.
fn seen_map(variant: Variant) -> &'static str {
    match variant {
        Variant::Current => SEEN,
        Variant::Linux510 => SEEN_BYTES,
    }
}

/// How [`start`] got its programs running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Started {
    /// A pinned set for the same settings was running: adopted, nothing was reloaded.
    Adopted,
    /// Nothing was pinned: loaded and pinned.
    Loaded,
    /// A pinned set was there but could not be adopted (the reason); replaced.
    Replaced(String),
}

/// The directory of the current layout's pins below `pin_root`.
pub fn set_dir(pin_root: &Path) -> PathBuf {
    pin_root.join(format!("v{DAEMON_LAYOUT_VERSION}"))
}

/// Removes every pinned set below `pin_root` (the current layout's and any other): the link
/// pins go first, which detaches the programs once no daemon holds them. Returns the sets
/// removed.
pub fn unpin_all(pin_root: &Path) -> Result<Vec<PathBuf>, PinError> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(pin_root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(err) => return Err(io_err("reading pin directory", pin_root)(err)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("reading pin directory", pin_root))?;
        let path = entry.path();
        if is_set_dir(&entry.file_name().to_string_lossy()) {
            remove_set(&path)?;
            removed.push(path);
        }
    }
    let _ = fs::remove_dir(pin_root);
    Ok(removed)
}

fn is_set_dir(name: &str) -> bool {
    name.strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn remove_set(dir: &Path) -> Result<(), PinError> {
    // The links first: without them the programs stop being called.
    for hook in HOOKS.iter().rev() {
        let link = dir.join(hook.link);
        if link.exists() {
            fs::remove_file(&link).map_err(io_err("unpinning", &link))?;
        }
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io_err("reading pin directory", dir)(err)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        fs::remove_file(&path).map_err(io_err("unpinning", &path))?;
    }
    fs::remove_dir(dir).map_err(io_err("removing pin directory", dir))
}

/// Adopts the pinned set below `pin_root` when it was loaded for `spec`, or (re)loads and pins
/// one; sets of other layout versions are removed first.
pub fn start(
    pin_root: &Path,
    btf_path: &Path,
    spec: &DaemonSpec,
) -> Result<(DaemonMaps, Started), PinError> {
    fs::create_dir_all(pin_root).map_err(io_err("creating pin directory", pin_root))?;
    let dir = set_dir(pin_root);
    let mut replaced = Vec::new();
    for entry in fs::read_dir(pin_root)
        .map_err(io_err("reading pin directory", pin_root))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_set_dir(&name) && entry.path() != dir {
            remove_set(&entry.path())?;
            log::warn!(
                "removed the pinned set of layout {name} at {} (this daemon's is v{DAEMON_LAYOUT_VERSION})",
                entry.path().display()
            );
        }
    }
    let info = fs::exists(dir.join(INFO))
        .unwrap_or(false)
        .then(|| read_info(&dir))
        .transpose()?;
    let linked = HOOKS
        .iter()
        .all(|hook| PinnedLink::from_pin(dir.join(hook.link)).is_ok());
    match info.map(|info| (info, spec.loaded_for(&info))) {
        Some((_, Some(variant))) if linked => {
            return Ok((DaemonMaps::open(&dir, spec, variant)?, Started::Adopted));
        }
        // Same settings but no link: an earlier daemon died while loading. Its maps are kept
        // (the loader reuses pinned maps) and the program is loaded again.
        Some((_, Some(_))) => {}
        Some((info, None)) => {
            replaced.push(format!("loaded for {}", Settings(&info)));
            remove_set(&dir)?;
        }
        None if dir.exists() => {
            replaced.push("incomplete".to_owned());
            remove_set(&dir)?;
        }
        None => {}
    }
    let variant = load(&dir, btf_path, spec)?;
    let started = if replaced.is_empty() {
        Started::Loaded
    } else {
        Started::Replaced(replaced.join("; "))
    };
    Ok((DaemonMaps::open(&dir, spec, variant)?, started))
}

/// The settings a set was loaded with, as the daemon's flags name them.
struct Settings<'a>(&'a DaemonInfo);

impl fmt::Display for Settings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0;
        write!(
            f,
            "cgroup id {} at level {}, {}, --max-cgroups {}, --max-odd {}, --max-denials {}",
            info.root_id,
            info.root_level,
            if info.after_seccomp != 0 {
                "--after-seccomp"
            } else {
                "--no-after-seccomp"
            },
            info.max_cgroups,
            info.max_odd,
            info.max_denials
        )
    }
}

fn read_info(dir: &Path) -> Result<DaemonInfo, PinError> {
    let path = dir.join(INFO);
    let data = MapData::from_pin(&path).map_err(|source| PinError::FromPin {
        path: path.clone(),
        source,
    })?;
    let map =
        Array::<_, DaemonInfo>::try_from(aya::maps::Map::Array(data)).map_err(map_err(INFO))?;
    map.get(&0, 0).map_err(map_err(INFO))
}

/// Loads the programs that fit the kernel and pins them with their maps and links; returns
/// their variant.
fn load(dir: &Path, btf_path: &Path, spec: &DaemonSpec) -> Result<Variant, PinError> {
    if OBJECT.is_empty() {
        return Err(TracerError::NoObject.into());
    }
    fs::create_dir_all(dir).map_err(io_err("creating pin directory", dir))?;
    let Prepared {
        offsets,
        variant,
        mut loader,
        ..
    } = start_loading(btf_path, None)?;
    let config = Config {
        cgroup_mode: CGROUP_ROOT,
        cgroup_level: spec.root_level,
        root_id: spec.root_id,
        after_seccomp: u32::from(spec.after_seccomp),
        log: 0,
        args: 0,
        _pad: 0,
    };
    let seen = seen_map(variant);
    let pins: Vec<(&str, PathBuf)> = PINNED_MAPS
        .iter()
        .chain([&seen])
        .map(|name| (*name, dir.join(name)))
        .collect();
    configure(&mut loader, &offsets, &config);
    loader
        .map_max_entries(seen, spec.max_cgroups)
        .map_max_entries(ODD, spec.max_odd)
        .map_max_entries(DENIED, spec.max_denials);
    for name in RECORD_MAPS {
        loader.map_max_entries(name, 1);
    }
    for (name, path) in &pins {
        loader.map_pin_path(name, path.as_path());
    }
    let mut ebpf = loader
        .load(OBJECT)
        .map_err(|err| explain(TracerError::from(err)))?;
    {
        let map = ebpf.map_mut(INFO).ok_or(TracerError::MissingMap(INFO))?;
        let mut info: Array<_, DaemonInfo> = Array::try_from(map).map_err(map_err(INFO))?;
        info.set(0, &spec.info(variant), 0).map_err(map_err(INFO))?;
    }
    for hook in &HOOKS {
        let name = variant.program(hook.program);
        let program_err = program_error(name);
        let program: &mut RawTracePoint = program_mut(&mut ebpf, name)?;
        program.load().map_err(|err| explain(program_err(err)))?;
        let program_pin = dir.join(hook.pin);
        let _ = fs::remove_file(&program_pin);
        program.pin(&program_pin).map_err(|source| PinError::Pin {
            path: program_pin.clone(),
            source,
        })?;
        let link_id = program.attach(hook.tracepoint).map_err(program_err)?;
        let link = FdLink::from(program.take_link(link_id).map_err(program_err)?);
        let link_pin = dir.join(hook.link);
        let _ = fs::remove_file(&link_pin);
        link.pin(&link_pin).map_err(|source| PinError::Pin {
            path: link_pin,
            source,
        })?;
    }
    Ok(variant)
}

/// Syscalls by ABI and number.
pub type Syscalls = Vec<(Arch, u64)>;

/// Each cgroup's syscalls, as the loaded variant keeps them.
enum Seen {
    Bits(HashMap<MapData, u64, SeenSyscalls>),
    Bytes(HashMap<MapData, u64, SeenBytes>),
}

/// The pinned maps, opened by path.
pub struct DaemonMaps {
    seen: Seen,
    odd: HashMap<MapData, CgroupSyscallKey, u8>,
    denied: HashMap<MapData, CgroupSyscallKey, Denial>,
    events: PerCpuArray<MapData, u64>,
    shared_events: PerCpuArray<MapData, u64>,
    /// Kernel memory of `DAEMON_SEEN` (its `memlock` in fdinfo; preallocated, so fixed).
    pub seen_memory: u64,
    pub max_cgroups: u32,
    pub max_odd: u32,
    pub max_denials: u32,
}

/// Everything the kernel could not keep, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaemonLosses {
    /// Cgroups not counted because `DAEMON_SEEN` was full (calls, not cgroups).
    pub seen_full: u64,
    pub odd_full: u64,
    /// Denied calls not counted because `DAEMON_DENIED` was full.
    pub denied_full: u64,
    pub read_failed: u64,
}

/// Counts of changes, summed over CPUs: while they stay the same, the maps and the cgroup tree
/// have nothing new to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// A cgroup's first call of a syscall (a new cgroup's first call too) or a new
    /// out-of-table number.
    pub new: u64,
    /// Denied calls.
    pub denied: u64,
    /// Cgroups removed or renamed, anywhere on the system.
    pub tree: u64,
}

/// What `sys_exit_daemon` counted for one syscall in one cgroup, as the kernel keeps it
/// (cumulative while the cgroup's entry lives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelDenial {
    pub cgroup: u64,
    pub abi: Arch,
    pub nr: u64,
    pub denial: Denial,
}

fn open_map(dir: &Path, name: &str) -> Result<MapData, PinError> {
    let path = dir.join(name);
    MapData::from_pin(&path).map_err(|source| PinError::FromPin { path, source })
}

impl DaemonMaps {
    fn open(dir: &Path, spec: &DaemonSpec, variant: Variant) -> Result<DaemonMaps, PinError> {
        let name = seen_map(variant);
        let data = open_map(dir, name)?;
        let seen_memory = memlock(&data).unwrap_or(0);
        let data = aya::maps::Map::HashMap(data);
        let seen = match variant {
            Variant::Current => Seen::Bits(HashMap::try_from(data).map_err(map_err(SEEN))?),
            Variant::Linux510 => Seen::Bytes(HashMap::try_from(data).map_err(map_err(SEEN_BYTES))?),
        };
        Ok(DaemonMaps {
            seen,
            odd: HashMap::try_from(aya::maps::Map::HashMap(open_map(dir, ODD)?))
                .map_err(map_err(ODD))?,
            denied: HashMap::try_from(aya::maps::Map::HashMap(open_map(dir, DENIED)?))
                .map_err(map_err(DENIED))?,
            events: PerCpuArray::try_from(aya::maps::Map::PerCpuArray(open_map(dir, EVENTS)?))
                .map_err(map_err(EVENTS))?,
            shared_events: PerCpuArray::try_from(aya::maps::Map::PerCpuArray(open_map(
                dir,
                SHARED_EVENTS,
            )?))
            .map_err(map_err(SHARED_EVENTS))?,
            seen_memory,
            max_cgroups: spec.max_cgroups,
            max_odd: spec.max_odd,
            max_denials: spec.max_denials,
        })
    }

    /// Every cgroup's bitmap (decode with [`syscalls_of`]).
    pub fn seen(&self) -> Result<Vec<(u64, SeenSyscalls)>, PinError> {
        match &self.seen {
            Seen::Bits(map) => map
                .iter()
                .map(|entry| entry.map_err(map_err(SEEN)))
                .collect(),
            Seen::Bytes(map) => map
                .iter()
                .map(|entry| {
                    let (id, bytes) = entry.map_err(map_err(SEEN_BYTES))?;
                    Ok((id, bitmap_of(&bytes)))
                })
                .collect(),
        }
    }

    /// One cgroup's bitmap, if it has an entry.
    pub fn seen_of(&self, id: u64) -> Result<Option<Syscalls>, PinError> {
        let found = match &self.seen {
            Seen::Bits(map) => map.get(&id, 0).map_err(|err| (SEEN, err)),
            Seen::Bytes(map) => map
                .get(&id, 0)
                .map(|bytes| bitmap_of(&bytes))
                .map_err(|err| (SEEN_BYTES, err)),
        };
        match found {
            Ok(bits) => Ok(Some(syscalls_of(&bits))),
            Err((_, aya::maps::MapError::KeyNotFound)) => Ok(None),
            Err((name, err)) => Err(map_err(name)(err)),
        }
    }

    /// Out-of-table numbers, per cgroup.
    pub fn odd(&self) -> Result<Vec<(u64, Arch, u64)>, PinError> {
        let mut all = Vec::new();
        for key in self.odd.keys() {
            let key = key.map_err(map_err(ODD))?;
            if let Some(abi) = Arch::from_index(key.abi) {
                all.push((key.cgroup, abi, key.nr));
            }
        }
        Ok(all)
    }

    /// Every denial counted.
    pub fn denied(&self) -> Result<Vec<KernelDenial>, PinError> {
        let mut all = Vec::new();
        for entry in self.denied.iter() {
            let (key, denial) = entry.map_err(map_err(DENIED))?;
            if let Some(abi) = Arch::from_index(key.abi) {
                all.push(KernelDenial {
                    cgroup: key.cgroup,
                    abi,
                    nr: key.nr,
                    denial,
                });
            }
        }
        Ok(all)
    }

    /// Frees a removed cgroup's entries (after what they held is on disk): its bitmap, and its
    /// `odd` numbers and `denied` syscalls, which are keyed by number. An entry already gone
    /// (freed by another daemon on the same pins, or `--unpin`) is fine.
    pub fn forget(
        &mut self,
        id: u64,
        odd: &[(Arch, u64)],
        denied: &[(Arch, u64)],
    ) -> Result<(), PinError> {
        let removed = match &mut self.seen {
            Seen::Bits(map) => map.remove(&id).map_err(|err| (SEEN, err)),
            Seen::Bytes(map) => map.remove(&id).map_err(|err| (SEEN_BYTES, err)),
        };
        match removed {
            Err((name, err)) if !absent(&err) => return Err(map_err(name)(err)),
            _ => {}
        }
        let key = |(abi, nr): &(Arch, u64)| CgroupSyscallKey {
            cgroup: id,
            nr: *nr,
            abi: abi.index().expect("recorded ABIs have an index"),
            _pad: 0,
        };
        for call in odd {
            match self.odd.remove(&key(call)) {
                Err(err) if !absent(&err) => return Err(map_err(ODD)(err)),
                _ => {}
            }
        }
        for call in denied {
            match self.denied.remove(&key(call)) {
                Err(err) if !absent(&err) => return Err(map_err(DENIED)(err)),
                _ => {}
            }
        }
        Ok(())
    }

    /// What changed in the kernel's maps since they were created. Read before the maps: a
    /// change made after this read shows in the next one.
    pub fn marks(&self) -> Result<Marks, PinError> {
        let sum = |index| summed(&self.events, EVENTS, index);
        Ok(Marks {
            new: sum(DAEMON_EVENT_NEW)?,
            denied: sum(DAEMON_EVENT_DENIED)?,
            tree: sum(DAEMON_EVENT_TREE)?,
        })
    }

    pub fn losses(&self) -> Result<DaemonLosses, PinError> {
        Ok(DaemonLosses {
            seen_full: summed(&self.events, EVENTS, DAEMON_EVENT_SEEN_FULL)?,
            odd_full: summed(&self.events, EVENTS, DAEMON_EVENT_ODD_FULL)?,
            denied_full: summed(&self.events, EVENTS, DAEMON_EVENT_DENIED_FULL)?,
            read_failed: summed(&self.shared_events, SHARED_EVENTS, EVENT_READ_FAILED)?,
        })
    }
}

/// Entry `index` of a per-CPU counter array, summed over CPUs.
fn summed(
    map: &PerCpuArray<MapData, u64>,
    name: &'static str,
    index: u32,
) -> Result<u64, PinError> {
    Ok(map.get(&index, 0).map_err(map_err(name))?.iter().sum())
}

/// Whether a map error says the key is not there: `bpf_map_delete_elem` reports it as ENOENT.
fn absent(err: &aya::maps::MapError) -> bool {
    match err {
        aya::maps::MapError::KeyNotFound => true,
        aya::maps::MapError::SyscallError(err) => err.io_error.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}

/// The bitmap of a byte-per-syscall entry (the `_510` variant's).
fn bitmap_of(bytes: &SeenBytes) -> SeenSyscalls {
    let mut bits = SeenSyscalls {
        bits: [0; SEEN_WORDS],
    };
    for (index, _) in bytes
        .flags
        .iter()
        .enumerate()
        .filter(|(_, &flag)| flag != 0)
    {
        bits.bits[index / 64] |= 1 << (index % 64);
    }
    bits
}

/// The syscalls a bitmap holds.
pub fn syscalls_of(bits: &SeenSyscalls) -> Syscalls {
    const PER_ABI: usize = SYSCALL_TABLE_SIZE / 64;
    let mut out = Vec::new();
    for (word_index, &word) in bits.bits.iter().enumerate().take(SEEN_WORDS) {
        let mut word = word;
        while word != 0 {
            let bit = word.trailing_zeros() as usize;
            word &= word - 1;
            if let Some(abi) = Arch::from_index((word_index / PER_ABI) as u32) {
                out.push((abi, ((word_index % PER_ABI) * 64 + bit) as u64));
            }
        }
    }
    out
}

/// A map's `memlock` from `/proc/self/fdinfo`: the kernel memory charged to it.
fn memlock(map: &MapData) -> Option<u64> {
    let fd = map.fd().as_fd().as_raw_fd();
    let text = fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("memlock:"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn bitmap_bits_are_abi_and_number() {
        let mut bits = SeenSyscalls {
            bits: [0; SEEN_WORDS],
        };
        bits.bits[0] = 1 | 1 << 63;
        bits.bits[16 + 1] = 1 << 2;
        bits.bits[32 + 15] = 1 << 63;
        assert_eq!(
            syscalls_of(&bits),
            vec![
                (Arch::X86_64, 0),
                (Arch::X86_64, 63),
                (Arch::X86, 66),
                (Arch::X32, 1023)
            ]
        );
    }

    #[test]
    fn a_missing_key_is_not_an_error() {
        let enoent = aya::maps::MapError::SyscallError(aya::sys::SyscallError {
            call: "bpf_map_delete_elem",
            io_error: io::Error::from_raw_os_error(libc::ENOENT),
        });
        assert!(absent(&enoent));
        assert!(absent(&aya::maps::MapError::KeyNotFound));
        let eperm = aya::maps::MapError::SyscallError(aya::sys::SyscallError {
            call: "bpf_map_delete_elem",
            io_error: io::Error::from_raw_os_error(libc::EPERM),
        });
        assert!(!absent(&eperm));
        // Its errno is in what is printed.
        let text = crate::output::error_chain(&map_err(SEEN)(eperm));
        assert!(
            text.contains("Operation not permitted (os error 1)"),
            "{text}"
        );
    }

    #[test]
    fn byte_flags_become_the_same_bitmap() {
        let mut bytes = SeenBytes {
            flags: [0; profiler_common::SEEN_BYTES],
        };
        for index in [0, 63, 1024 + 66, 2048 + 1023] {
            bytes.flags[index] = 1;
        }
        let mut bits = [0; SEEN_WORDS];
        bits[0] = 1 | 1 << 63;
        bits[16 + 1] = 1 << 2;
        bits[32 + 15] = 1 << 63;
        assert_eq!(bitmap_of(&bytes).bits, bits);
    }

    #[test]
    fn a_set_is_adopted_whichever_variant_the_kernel_got() {
        let spec = DaemonSpec {
            root_id: 7,
            root_level: 2,
            after_seccomp: true,
            max_cgroups: 10,
            max_odd: 5,
            max_denials: 3,
        };
        for variant in [Variant::Current, Variant::Linux510] {
            assert_eq!(spec.loaded_for(&spec.info(variant)), Some(variant));
        }
        let other = DaemonSpec {
            max_cgroups: 11,
            ..spec
        };
        assert_eq!(other.loaded_for(&spec.info(Variant::Current)), None);
    }

    #[test]
    fn only_version_directories_are_sets() {
        assert!(is_set_dir("v1"));
        assert!(is_set_dir("v12"));
        assert!(!is_set_dir("v"));
        assert!(!is_set_dir("vx"));
        assert!(!is_set_dir("link"));
    }
}
