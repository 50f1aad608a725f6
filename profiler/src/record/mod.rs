//! `profile record`: what a target does, turned into a profile.
mod recording;
mod report;
mod session;

pub use self::{
    recording::{DefaultAction, Recording, UnknownSyscall},
    report::render as render_report,
    session::{record_command, CommandOptions, Format, RecordError},
};
