//! The command line's parts: flag groups (`args`), one function per
//! command (`commands`), and how an error ends the process (`exit`).

pub mod args;
pub mod commands;
pub mod exit;
