//! The command line, clap only: what each subcommand accepts. The work is done by library functions.
