//! A profile in any dialect (OCI, Docker, SPO resource, YAML): parsed as `profile check` reads it,
//! and resolved for a fixed target, as every command that takes a profile does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use profiler::{
    profile::{self, Platform},
    syscalls::Arch,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = profile::parse(text, "fuzz.json") else {
        return;
    };
    let target = Platform {
        arch: Arch::X86_64,
        kernel: (6, 18),
        capabilities: profile::caps::default_capabilities(),
    };
    let _ = profile::resolve(&parsed.profile, &target);
});
