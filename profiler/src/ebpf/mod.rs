//! The kernel-facing side of recording: load the eBPF programs, attach them, tell them what to
//! watch and read back what they counted. Nothing else in the crate touches eBPF.
mod offsets;

use std::{collections::BTreeMap, path::Path};

use aya::{
    maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap},
    programs::RawTracePoint,
    Ebpf, EbpfLoader,
};
use profiler_common::{
    OddSyscallKey, SyscallCounts, ABI_COUNT, EVENT_ODD_FULL, EVENT_READ_FAILED, EVENT_WATCH_FULL,
};

pub use self::offsets::{OffsetError, KERNEL_BTF};
use crate::{record::Recording, syscalls::Arch};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/profiler"));

#[derive(Debug, thiserror::Error)]
pub enum TracerError {
    #[error(transparent)]
    Offsets(#[from] OffsetError),
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
    /// Kernel reads that failed (ABI or child pid unknown).
    pub read_failed: u64,
}

impl Losses {
    pub fn any(&self) -> bool {
        *self != Losses::default()
    }
}

/// The loaded and attached programs with their maps.
pub struct Tracer {
    ebpf: Ebpf,
}

const HOOKS: [&str; 3] = ["sys_enter", "sched_process_fork", "sched_process_exit"];

impl Tracer {
    /// Loads the programs with offsets from `btf_path` and attaches them.
    pub fn load(btf_path: &Path) -> Result<Tracer, TracerError> {
        if OBJECT.is_empty() {
            return Err(TracerError::NoObject);
        }
        let offsets = offsets::task_offsets(btf_path)?;
        // The programs use no CO-RE relocations, so aya need not parse kernel BTF a second time.
        let mut ebpf = EbpfLoader::new()
            .btf(None)
            .override_global("TASK_OFFSETS", &offsets, true)
            .load(OBJECT)?;
        for name in HOOKS {
            let program: &mut RawTracePoint = ebpf
                .program_mut(name)
                .ok_or(TracerError::Program {
                    name,
                    source: aya::programs::ProgramError::UnexpectedProgramType,
                })?
                .try_into()
                .map_err(|source| TracerError::Program { name, source })?;
            program
                .load()
                .map_err(|source| TracerError::Program { name, source })?;
            program
                .attach(name)
                .map_err(|source| TracerError::Program { name, source })?;
        }
        Ok(Tracer { ebpf })
    }

    /// The aya-log ring buffer, for the caller to drain; `None` when the object has no log
    /// statements compiled in.
    pub fn logger(&mut self) -> Option<aya_log::EbpfLogger<&'static dyn log::Log>> {
        aya_log::EbpfLogger::init(&mut self.ebpf).ok()
    }

    fn watched(&mut self) -> Result<HashMap<&mut MapData, u32, u32>, TracerError> {
        let map = self
            .ebpf
            .map_mut("WATCHED")
            .ok_or(TracerError::MissingMap("WATCHED"))?;
        HashMap::try_from(map).map_err(|source| TracerError::Map {
            name: "WATCHED",
            source,
        })
    }

    /// Counts every syscall of process `tgid` and of its future children in `slot`.
    pub fn watch(&mut self, tgid: u32, slot: u32) -> Result<(), TracerError> {
        self.watched()?
            .insert(tgid, slot, 0)
            .map_err(|source| TracerError::Map {
                name: "WATCHED",
                source,
            })
    }

    /// How many processes of `slot` are still alive.
    pub fn live_processes(&mut self, slot: u32) -> Result<usize, TracerError> {
        let watched = self.watched()?;
        let mut live = 0;
        for entry in watched.iter() {
            let (_, s) = entry.map_err(|source| TracerError::Map {
                name: "WATCHED",
                source,
            })?;
            live += usize::from(s == slot);
        }
        Ok(live)
    }

    /// Everything counted for `slot` so far.
    pub fn recording(&self, slot: u32) -> Result<Recording, TracerError> {
        let mut recording = Recording::default();
        let counts: PerCpuArray<&MapData, SyscallCounts> = self.map("COUNTS")?;
        for abi in Arch::RECORDED {
            let per_cpu = counts
                .get(
                    &(slot * ABI_COUNT + abi.index().expect("a recorded ABI")),
                    0,
                )
                .map_err(|source| TracerError::Map {
                    name: "COUNTS",
                    source,
                })?;
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
            let (key, per_cpu) = entry.map_err(|source| TracerError::Map {
                name: "ODD_COUNTS",
                source,
            })?;
            if key.slot != slot {
                continue;
            }
            if let Some(abi) = Arch::from_index(key.abi) {
                recording.add(abi, key.nr, per_cpu.iter().sum());
            }
        }
        Ok(recording)
    }

    pub fn losses(&self) -> Result<Losses, TracerError> {
        let events: PerCpuArray<&MapData, u64> = self.map("EVENTS")?;
        let sum = |index: u32| -> Result<u64, TracerError> {
            let per_cpu = events.get(&index, 0).map_err(|source| TracerError::Map {
                name: "EVENTS",
                source,
            })?;
            Ok(per_cpu.iter().sum())
        };
        Ok(Losses {
            watch_full: sum(EVENT_WATCH_FULL)?,
            odd_full: sum(EVENT_ODD_FULL)?,
            read_failed: sum(EVENT_READ_FAILED)?,
        })
    }

    fn map<'a, M>(&'a self, name: &'static str) -> Result<M, TracerError>
    where
        M: TryFrom<&'a aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self.ebpf.map(name).ok_or(TracerError::MissingMap(name))?;
        M::try_from(map).map_err(|source| TracerError::Map { name, source })
    }
}
