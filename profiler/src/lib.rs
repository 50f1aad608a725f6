//! profile: learn the syscalls a program makes with eBPF and turn them into seccomp profiles.
pub mod audit;
pub mod cgroup;
pub mod daemon;
pub mod duration;
pub mod ebpf;
pub mod enforce;
pub mod output;
pub mod profile;
pub mod record;
pub mod recording;
pub mod report;
pub mod seccomp;
pub mod sys;
pub mod syscalls;
