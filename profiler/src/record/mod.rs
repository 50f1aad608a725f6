//! `profile record`: what a target does, turned into a profile.
mod args;
pub mod hook;
mod live;
mod recording;
mod report;
mod session;
pub mod targets;

pub use self::{
    args::{listed_names, LearnedArgs, Outcome, Restriction, ValueSet, Why},
    live::{record_target, Target, TargetOptions},
    recording::{Additions, DefaultAction, ProfileOptions, Recording, UnknownSyscall},
    report::render as render_report,
    session::{
        record_command, render, render_profile, CommandOptions, Destination, Existing, Format,
        RecordError,
    },
};
