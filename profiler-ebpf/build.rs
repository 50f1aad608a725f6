//! The eBPF build (aya-build) passes `--cfg bpf_target_arch`; host builds of this crate (clippy)
//! get the host's, as aya-ebpf's own build script does.
fn main() -> aya_build::Result<()> {
    aya_build::emit_bpf_target_arch_cfg()
}
