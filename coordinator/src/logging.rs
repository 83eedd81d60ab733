//! Logging for every rwclip binary: `tracing` events to stderr, one line
//! each, filtered by `RUST_LOG` (default `info`), as text or — with
//! `RWCLIP_LOG_FORMAT=json` — as one JSON object per line for log shippers.
//! Worker processes started by `rwclip run` inherit both variables.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The variable choosing the line format: `text` (default) or `json`.
pub const FORMAT_VARIABLE: &str = "RWCLIP_LOG_FORMAT";

/// Installs the process's subscriber; a second call (tests starting
/// several in-process servers) keeps the first.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A closed stderr (a supervisor that stopped reading) must cost log
    // lines, never the process: write errors are not reported on stderr.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).log_internal_errors(false);
    let json = std::env::var(FORMAT_VARIABLE).is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let _ = if json {
        builder.json().with_current_span(false).try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
}
