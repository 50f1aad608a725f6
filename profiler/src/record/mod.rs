//! `profile record`: what a target does, turned into a profile.
pub mod hook;
mod live;
mod session;

pub use self::{
    live::{record_target, Target, TargetOptions},
    session::{record_command, CommandOptions, Destination, Existing, RecordError, RecordOptions},
};
