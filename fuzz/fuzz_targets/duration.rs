//! A duration of the command line (`--duration`, `--linger`, `--flush-interval`): whatever it
//! parses to can be added to now.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(duration) = profiler::duration::parse(text) {
        assert!(duration <= profiler::duration::MAX);
        assert!(std::time::Instant::now().checked_add(duration).is_some());
    }
});
