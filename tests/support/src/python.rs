//! The reference venv's Python, for reading artifacts with pyarrow and
//! comparing with scikit-learn.

use std::path::Path;
use std::process::Command;

/// The venv interpreter (`.venv/bin/python`, made absolute by cargo's [env]).
pub fn python() -> &'static str {
    let p = env!("RWCLIP_PYTHON");
    assert!(Path::new(p).exists(), "{p} is missing: run `make bootstrap`");
    p
}

/// Runs a Python snippet with `args` as `sys.argv[1:]`; returns its stdout,
/// panicking with its stderr when it fails.
pub fn run(code: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (make bootstrap)", python()));
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
