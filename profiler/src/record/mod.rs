//! `profile record`: what a target does, turned into a profile.
pub mod hook;
mod live;
mod report;
mod session;

pub use self::{
    live::{record_target, Target, TargetOptions},
    report::render as render_report,
    session::{record_command, render, CommandOptions, Destination, Existing, Format, RecordError},
};
