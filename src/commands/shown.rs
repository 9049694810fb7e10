//! An audit on the terminal: what `callbudget_audit::run` tells, as lines on stdout and stderr.

use super::{error_line, print_stdout_io};
use callbudget_audit::{AuditEvent, AuditProgress, Line, LineKind};
use callbudget_collect::progress::Verbosity;

/// An audit shown on the terminal: the collector as verbose as the flags say, results on stdout,
/// notes on stderr unless quiet, warnings and errors always.
pub struct Shown(pub Verbosity);

impl AuditProgress for Shown {
    fn collect_verbosity(&self) -> Verbosity {
        self.0
    }

    fn event(&mut self, event: AuditEvent<'_>) -> std::io::Result<()> {
        for Line { kind, text } in event.lines() {
            match kind {
                LineKind::Result => print_stdout_io(&text)?,
                LineKind::Note => say!(self.0.quiet, "{text}"),
                LineKind::Warning => eprintln!("callbudget: warning: {text}"),
                LineKind::Error => error_line(&text),
            }
        }
        Ok(())
    }
}
