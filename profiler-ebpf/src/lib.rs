#![no_std]
// Empty: the build-dependency of `profiler` on this crate only makes cargo rebuild it when the
// eBPF sources change; the programs are the `profiler` binary target.
