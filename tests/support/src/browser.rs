//! Debian's `chromium`, headless, as the guide prescribes: a fresh profile
//! per run, no background networking, no sandbox (tests run as root).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The browser binary, or a loud failure naming what to install.
pub fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("Debian's chromium is not installed: run `make bootstrap` (apt-get install chromium)");
}

/// Runs headless Chromium on `url` for `millis` of the page's virtual time
/// (its timers fire without waiting; each request takes its real time, so
/// a page polling every second sees roughly millis / 100 real ms of a
/// server's life), then `--dump-dom` (when `screenshot` is None) or a PNG
/// screenshot at `screenshot`. Returns stdout (the DOM).
pub fn run(url: &str, millis: u64, screenshot: Option<&Path>) -> String {
    let profile = tempfile::tempdir().expect("browser profile dir");
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1400",
        // Virtual time: the page's timers run through `millis` as fast as
        // its requests allow, then the DOM or screenshot is taken.
        &format!("--virtual-time-budget={millis}"),
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(path) => cmd.arg(format!("--screenshot={}", path.display())),
        None => cmd.arg("--dump-dom"),
    };
    cmd.arg(url);
    let out = cmd.output().expect("run chromium");
    assert!(out.status.success(), "chromium failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    // The browser's own log (console errors included) when a page misbehaves.
    if std::env::var_os("RWCLIP_BROWSER_LOG").is_some() {
        eprintln!("chromium on {url}:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A local page that logs in to `base` (a coordinator's HTTP side) with
/// `token` by posting the login form, which sets the cookie and goes to
/// the dashboard: the way a person logs in, without typing.
pub fn login_page(dir: &Path, base: &str, token: &str) -> String {
    let path = dir.join("login.html");
    let html = format!(
        "<!doctype html><html><body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{base}/login\"><input name=\"token\" value=\"{token}\"></form></body></html>"
    );
    std::fs::write(&path, html).expect("write the login page");
    format!("file://{}", path.display())
}
