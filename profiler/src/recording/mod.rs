//! What a recording holds: the counts side file (more follows).
pub mod counts;
