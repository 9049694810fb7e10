//! The `callbudget` binary's library: the command line ([`cli`]: clap only, what each subcommand
//! accepts and the request its flags make of the layers) and the [`demo`]. The layers themselves
//! are crates of the workspace, from the API's vocabulary up to the renderers and the audit use
//! case (docs/architecture.md); this package only wires them.

pub mod cli;
pub mod demo;
