//! The kernel-facing side of recording: load the eBPF programs, attach them, tell them what to
//! watch and read back what they counted. Nothing else in the crate touches eBPF.
pub mod daemon;
mod features;
mod offsets;
mod tracepoint_btf;

use std::{collections::BTreeMap, path::Path};

use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray, PerCpuHashMap},
    programs::{BtfTracePoint, RawTracePoint},
    Ebpf, EbpfLoader,
};
use profiler_common::{
    ArgSet, ArgSetKey, ArgValueKey, CgroupSyscallKey, Config, OddSyscallKey, SyscallCounts,
    TaskOffsets, ABI_COUNT, CGROUP_NONE, CGROUP_ROOT, CGROUP_TARGETS, EVENT_ARGS_LOST,
    EVENT_CGROUP_FULL, EVENT_ODD_FULL, EVENT_READ_FAILED, EVENT_WATCH_FULL, GENERATION_USER,
};

pub use self::{
    features::{Features, ProbeError, Variant},
    offsets::{BtfReadError, OffsetError, KERNEL_BTF},
    tracepoint_btf::TracepointBtfError,
};
use crate::{
    recording::{args::LearnedArgs, Recording},
    syscalls::Arch,
};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/profiler"));

#[derive(Debug, thiserror::Error)]
pub enum TracerError {
    #[error(transparent)]
    Offsets(#[from] OffsetError),
    #[error(transparent)]
    TracepointBtf(#[from] TracepointBtfError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("lifting RLIMIT_MEMLOCK for the eBPF maps: {0}")]
    Memlock(std::io::Error),
    /// The kernel lacks something every supported kernel has: one line saying what.
    #[error("{0}")]
    BelowFloor(String),
    #[error("this binary was built without its eBPF programs (AYA_BUILD_SKIP was set)")]
    NoObject,
    #[error("loading the eBPF object: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("loading or attaching eBPF program {name}: {source}")]
    Program {
        name: &'static str,
        source: aya::programs::ProgramError,
    },
    #[error("eBPF map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("eBPF map {0} is missing from the object")]
    MissingMap(&'static str),
}

/// Things the kernel side could not do, which make a recording incomplete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Children not watched because the watch table was full.
    pub watch_full: u64,
    /// Distinct out-of-table syscall numbers not kept because their table was full.
    pub odd_full: u64,
    /// Kernel reads that failed (ABI, seccomp mode or child pid unknown).
    pub read_failed: u64,
    /// (cgroup, syscall) pairs below a cgroup root not kept because their table was full.
    pub cgroup_full: u64,
    /// Argument values (`--args`) not kept: their syscall stays unconditional.
    pub args_lost: u64,
}

/// The one slot of the kernel side's tables a tracer counts in: a recording follows one target
/// (a process tree or a cgroup). The tables have room for `MAX_SLOTS`; only this one is created.
const SLOT: u32 = 0;

/// What a tracer watches besides the process trees given to [`Tracer::watch`]. Fixed at load:
/// the programs see it as constants, so what is not used costs nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracerConfig {
    pub cgroups: CgroupMode,
    /// Count only calls made by tasks that already run under a seccomp filter.
    pub after_seccomp: bool,
    /// Learn the deciding arguments of the listed syscalls (`record --args`).
    pub args: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CgroupMode {
    /// Process trees only.
    #[default]
    None,
    /// Cgroups given to [`Tracer::watch_cgroup`], all at this depth below the v2 root, each
    /// with its descendants.
    Targets { level: u32 },
    /// Every cgroup below this one (`id` at depth `level`), counted per cgroup: see
    /// [`Tracer::cgroup_recordings`].
    Root { level: u32, id: u64 },
}

impl TracerConfig {
    fn global(&self) -> Config {
        let (cgroup_mode, cgroup_level, root_id) = match self.cgroups {
            CgroupMode::None => (CGROUP_NONE, 0, 0),
            CgroupMode::Targets { level } => (CGROUP_TARGETS, level, 0),
            CgroupMode::Root { level, id } => (CGROUP_ROOT, level, id),
        };
        Config {
            cgroup_mode,
            cgroup_level,
            root_id,
            after_seccomp: u32::from(self.after_seccomp),
            log: u32::from(kernel_log()),
            args: u32::from(self.args),
            _pad: 0,
        }
    }
}

/// Whether the programs' own log lines are wanted (`-vv`): they are debug lines.
fn kernel_log() -> bool {
    log::max_level() >= log::LevelFilter::Debug
}

impl Losses {
    pub fn any(&self) -> bool {
        *self != Losses::default()
    }
}

/// The loaded and attached programs with their maps.
pub struct Tracer {
    ebpf: Ebpf,
    /// Whether the programs learn arguments (`TracerConfig::args`).
    args: bool,
    /// How many times userspace moved `GENERATION` on.
    generations: u64,
}

/// What loading needs to know before it starts.
struct Prepared<'a> {
    offsets: TaskOffsets,
    /// The BTF that loading a program on BTF tracepoint `tp_btf` takes.
    btf: Option<aya::Btf>,
    variant: Variant,
    loader: EbpfLoader<'a>,
}

/// What the programs need from kernel BTF, which build of them fits the kernel, and a fresh
/// loader (which parses no kernel BTF: the programs use no CO-RE relocations).
fn start_loading<'a>(btf_path: &Path, tp_btf: Option<&str>) -> Result<Prepared<'a>, TracerError> {
    let offsets = offsets::task_offsets(btf_path)?;
    let btf = tp_btf
        .map(|tracepoint| tracepoint_btf::for_tracepoint(btf_path, tracepoint))
        .transpose()?;
    let features = Features::probe()?;
    features.lift_memlock().map_err(TracerError::Memlock)?;
    let variant = features.variant();
    if variant == Variant::Linux510 {
        log::info!(
            "the kernel lacks {}: loading the programs built for Linux 5.10",
            features.missing().join(" and ")
        );
    }
    Ok(Prepared {
        offsets,
        btf,
        variant,
        loader: EbpfLoader::new(),
    })
}

/// A failed load, explained in one line when the kernel is older than every supported one.
fn explain(err: TracerError) -> TracerError {
    match err {
        TracerError::Load(_) | TracerError::Program { .. } | TracerError::Map { .. } => {
            match features::below_floor() {
                Some(line) => TracerError::BelowFloor(line),
                None => err,
            }
        }
        other => other,
    }
}

/// Program `name` of the loaded object, as program type `T`.
fn program_mut<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, TracerError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or_else(|| program_error(name)(aya::programs::ProgramError::UnexpectedProgramType))?
        .try_into()
        .map_err(program_error(name))
}

/// `TracerError::Program` for program `name`, for `map_err`.
pub(super) fn program_error(
    name: &'static str,
) -> impl Fn(aya::programs::ProgramError) -> TracerError + Copy {
    move |source| TracerError::Program { name, source }
}

/// Loads raw tracepoint program `name` and attaches it to `tracepoint`.
fn attach_raw(ebpf: &mut Ebpf, name: &'static str, tracepoint: &str) -> Result<(), TracerError> {
    let program: &mut RawTracePoint = program_mut(ebpf, name)?;
    program.load().map_err(program_error(name))?;
    program.attach(tracepoint).map_err(program_error(name))?;
    Ok(())
}

/// What every load of the object sets: no BTF (the programs use no CO-RE relocations), the
/// offsets and `config` patched in, and the maps of what `config` turns off at their minimum.
fn configure<'a>(loader: &mut EbpfLoader<'a>, offsets: &'a TaskOffsets, config: &'a Config) {
    loader
        .override_global("TASK_OFFSETS", offsets, true)
        .override_global("CONFIG", config, true);
    if config.log == 0 {
        // The smallest ring buffer there is: nothing will be written to it.
        loader.map_max_entries("AYA_LOGS", 4096);
    }
    if config.args == 0 {
        loader.map_max_entries("ARG_VALUES", 1);
        loader.map_max_entries("ARG_SETS", 1);
    }
}

/// Loads the object and attaches `variant`'s programs: `sys_enter` when `btf` (for the BTF
/// tracepoint) is there, `sys_enter_cgroup` otherwise, and the fork and exit hooks.
fn load_and_attach(
    mut loader: EbpfLoader<'_>,
    btf: Option<aya::Btf>,
    variant: Variant,
) -> Result<Ebpf, TracerError> {
    let mut ebpf = loader.load(OBJECT)?;
    match btf {
        Some(btf) => {
            let name = variant.program(features::SYS_ENTER);
            let program: &mut BtfTracePoint = program_mut(&mut ebpf, name)?;
            program
                .load("sys_enter", &btf)
                .map_err(program_error(name))?;
            program.attach().map_err(program_error(name))?;
        }
        None => attach_raw(
            &mut ebpf,
            variant.program(features::SYS_ENTER_CGROUP),
            "sys_enter",
        )?,
    }
    for name in ["sched_process_fork", "sched_process_exit"] {
        attach_raw(&mut ebpf, name, name)?;
    }
    Ok(ebpf)
}

impl Tracer {
    /// Loads the programs with offsets from `btf_path` and `config`, and attaches them.
    pub fn load(btf_path: &Path, config: &TracerConfig) -> Result<Tracer, TracerError> {
        if OBJECT.is_empty() {
            return Err(TracerError::NoObject);
        }
        // Process trees only: `sys_enter` is a BTF tracepoint program (it says why);
        // `sys_enter_cgroup` a raw one.
        let tp_btf = (config.cgroups == CgroupMode::None).then_some("sys_enter");
        let Prepared {
            offsets,
            btf,
            variant,
            mut loader,
        } = start_loading(btf_path, tp_btf)?;
        let global = config.global();
        configure(&mut loader, &offsets, &global);
        // Maps a mode does not use get one entry: the per-CPU hash of a cgroup root is
        // preallocated per CPU, and creating it at full size took ~100 ms of start-up.
        if !matches!(config.cgroups, CgroupMode::Root { .. }) {
            loader.map_max_entries("CGROUP_COUNTS", 1);
        }
        if !matches!(config.cgroups, CgroupMode::Targets { .. }) {
            loader.map_max_entries("CGROUP_TARGETS", 1);
        }
        // Per-CPU count tables for the slot in use only (8 KiB per ABI, per CPU).
        loader.map_max_entries("COUNTS", (SLOT + 1) * ABI_COUNT);
        let ebpf = load_and_attach(loader, btf, variant).map_err(explain)?;
        Ok(Tracer {
            ebpf,
            args: config.args,
            generations: 0,
        })
    }

    /// The aya-log ring buffer, for the caller to drain; `None` when the object has no log
    /// statements compiled in.
    pub fn logger(&mut self) -> Option<aya_log::EbpfLogger<&'static dyn log::Log>> {
        if !kernel_log() {
            return None;
        }
        aya_log::EbpfLogger::init(&mut self.ebpf).ok()
    }

    fn watched(&mut self) -> Result<HashMap<&mut MapData, u32, u32>, TracerError> {
        self.map_mut("WATCHED")
    }

    /// Counts every syscall of process `tgid` and of its future children.
    pub fn watch(&mut self, tgid: u32) -> Result<(), TracerError> {
        self.watched()?
            .insert(&tgid, &SLOT, 0)
            .map_err(map_error("WATCHED"))?;
        self.next_generation()
    }

    /// Invalidates the per-CPU decisions the programs cached from `WATCHED` before it changed,
    /// with a value no program stores (see `next_generation` in the programs).
    fn next_generation(&mut self) -> Result<(), TracerError> {
        self.generations += 1;
        let value = self.generations << 8 | GENERATION_USER;
        let mut generation: Array<&mut MapData, u64> = self.map_mut("GENERATION")?;
        generation
            .set(0, &value, 0)
            .map_err(map_error("GENERATION"))
    }

    /// How many watched processes are still alive.
    pub fn live_processes(&mut self) -> Result<usize, TracerError> {
        Ok(self.watched_processes()?.len())
    }

    /// The processes still in the watch table (by tgid).
    pub fn watched_processes(&mut self) -> Result<Vec<u32>, TracerError> {
        let watched = self.watched()?;
        let mut live = Vec::new();
        for entry in watched.iter() {
            let (tgid, _) = entry.map_err(map_error("WATCHED"))?;
            live.push(tgid);
        }
        Ok(live)
    }

    /// Counts every syscall of tasks in cgroup `id` and its descendants. Only with
    /// [`CgroupMode::Targets`], whose level must be the cgroup's depth.
    pub fn watch_cgroup(&mut self, id: u64) -> Result<(), TracerError> {
        let mut targets: HashMap<&mut MapData, u64, u32> = self.map_mut("CGROUP_TARGETS")?;
        targets
            .insert(&id, &SLOT, 0)
            .map_err(map_error("CGROUP_TARGETS"))
    }

    /// With [`CgroupMode::Root`]: everything counted so far, per cgroup id.
    pub fn cgroup_recordings(&self) -> Result<BTreeMap<u64, Recording>, TracerError> {
        let counts: PerCpuHashMap<&MapData, CgroupSyscallKey, u64> = self.map("CGROUP_COUNTS")?;
        let mut recordings: BTreeMap<u64, Recording> = BTreeMap::new();
        for entry in counts.iter() {
            let (key, per_cpu) = entry.map_err(map_error("CGROUP_COUNTS"))?;
            if let Some(abi) = Arch::from_index(key.abi) {
                recordings
                    .entry(key.cgroup)
                    .or_default()
                    .add(abi, key.nr, per_cpu.iter().sum());
            }
        }
        if self.args {
            let mut learned = self.learned_args()?;
            for (cgroup, recording) in &mut recordings {
                recording.args = Some(learned.remove(cgroup).unwrap_or_default());
            }
        }
        Ok(recordings)
    }

    /// The learned argument values per target (slot, or cgroup id below a root).
    fn learned_args(&self) -> Result<BTreeMap<u64, LearnedArgs>, TracerError> {
        let mut learned: BTreeMap<u64, LearnedArgs> = BTreeMap::new();
        let values: HashMap<&MapData, ArgValueKey, u8> = self.map("ARG_VALUES")?;
        for entry in values.iter() {
            let (key, _) = entry.map_err(map_error("ARG_VALUES"))?;
            learned
                .entry(key.target)
                .or_default()
                .add_value(key.kind, key.value);
        }
        let sets: HashMap<&MapData, ArgSetKey, ArgSet> = self.map("ARG_SETS")?;
        for entry in sets.iter() {
            let (key, set) = entry.map_err(map_error("ARG_SETS"))?;
            if set.overflow != 0 {
                learned.entry(key.target).or_default().overflow(key.kind);
            }
        }
        Ok(learned)
    }

    /// Everything counted so far.
    pub fn recording(&self) -> Result<Recording, TracerError> {
        let mut recording = Recording::default();
        let counts: PerCpuArray<&MapData, SyscallCounts> = self.map("COUNTS")?;
        for &abi in Arch::RECORDED {
            let per_cpu = counts
                .get(
                    &(SLOT * ABI_COUNT + abi.index().expect("a recorded ABI")),
                    0,
                )
                .map_err(map_error("COUNTS"))?;
            let mut sums: BTreeMap<u64, u64> = BTreeMap::new();
            for cpu in per_cpu.iter() {
                for (nr, &n) in cpu.counts.iter().enumerate() {
                    if n != 0 {
                        *sums.entry(nr as u64).or_default() += n;
                    }
                }
            }
            for (nr, n) in sums {
                recording.add(abi, nr, n);
            }
        }
        let odd: PerCpuHashMap<&MapData, OddSyscallKey, u64> = self.map("ODD_COUNTS")?;
        for entry in odd.iter() {
            let (key, per_cpu) = entry.map_err(map_error("ODD_COUNTS"))?;
            if let Some(abi) = Arch::from_index(key.abi) {
                recording.add(abi, key.nr, per_cpu.iter().sum());
            }
        }
        if self.args {
            recording.args = Some(
                self.learned_args()?
                    .remove(&u64::from(SLOT))
                    .unwrap_or_default(),
            );
        }
        Ok(recording)
    }

    pub fn losses(&self) -> Result<Losses, TracerError> {
        let events: PerCpuArray<&MapData, u64> = self.map("EVENTS")?;
        let sum = |index: u32| -> Result<u64, TracerError> {
            let per_cpu = events.get(&index, 0).map_err(map_error("EVENTS"))?;
            Ok(per_cpu.iter().sum())
        };
        Ok(Losses {
            watch_full: sum(EVENT_WATCH_FULL)?,
            odd_full: sum(EVENT_ODD_FULL)?,
            read_failed: sum(EVENT_READ_FAILED)?,
            cgroup_full: sum(EVENT_CGROUP_FULL)?,
            args_lost: sum(EVENT_ARGS_LOST)?,
        })
    }

    fn map<'a, M>(&'a self, name: &'static str) -> Result<M, TracerError>
    where
        M: TryFrom<&'a aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self.ebpf.map(name).ok_or(TracerError::MissingMap(name))?;
        M::try_from(map).map_err(map_error(name))
    }

    fn map_mut<'a, M>(&'a mut self, name: &'static str) -> Result<M, TracerError>
    where
        M: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or(TracerError::MissingMap(name))?;
        M::try_from(map).map_err(map_error(name))
    }
}

/// `TracerError::Map` for map `name`, for `map_err`.
fn map_error(name: &'static str) -> impl Fn(aya::maps::MapError) -> TracerError {
    move |source| TracerError::Map { name, source }
}
