//! A seccomp audit record as each source carries it: the first byte picks the source (auditd's
//! log line, a kernel log record, a netlink buffer), the rest is the line or buffer. Parsed lines
//! go through the collector, as `profile audit` counts them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use profiler::audit::{
    parse::{self, AUDIT_SECCOMP},
    Collector, Filters,
};

fuzz_target!(|data: &[u8]| {
    let Some((&source, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let lines = match source % 3 {
        0 => vec![parse::parse_log_line(&text)],
        1 => vec![parse::parse_kmsg(&text)],
        _ => {
            let (messages, _) = parse::split_netlink(rest);
            messages
                .into_iter()
                .map(|(msg_type, body)| parse::parse_netlink(msg_type, body))
                .chain([parse::parse_netlink(AUDIT_SECCOMP, rest)])
                .collect()
        }
    };
    let mut collector = Collector::new(Filters::default());
    for line in lines {
        // Twice: the second is a duplicate, counts add up.
        for _ in 0..2 {
            collector.add(line.clone(), || text.to_string(), |_| None);
        }
    }
    let findings = &collector.findings;
    let _ = (
        profiler::audit::render::report(findings),
        findings.to_profile().to_json(),
    );
});
