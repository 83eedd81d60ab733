//! Decoding in a child process under a watchdog: libav can abort the whole
//! process or spin on a broken stream, and neither may take a worker's
//! other videos with it. The child writes [`Message`]s on stdout; the
//! parent kills it when it says nothing for too long.

use std::io::{BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::VideoError;
use crate::frames::Decoded;
use crate::wire::{Message, WireError};

/// Why a child gave no ending of its own.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChildFailure {
    /// It could not be started: the worker's fault, not the video's.
    #[error("cannot start the decoder process: {0}")]
    Spawn(String),
    #[error("the decoder crashed ({how}){}", after(*at_s))]
    Crashed { how: String, at_s: Option<f64> },
    #[error("the decoder hung (no output for {stall_s:.0} s) and was killed{}", after(*at_s))]
    Stalled { stall_s: f64, at_s: Option<f64> },
    #[error("{0}")]
    Protocol(String),
}

fn after(at_s: Option<f64>) -> String {
    at_s.map(|t| format!(" after {t:.1} s of video")).unwrap_or_default()
}

/// Runs `command` (a decoder child), hands each info and frame message to
/// `on_message` as it arrives, and returns the child's own ending, or why
/// there is none.
/// What a decoder prints on stderr while a store read of its video is
/// still retrying: alive, not hung.
pub const WAITING_FOR_STORE: &str = "rwclip-decode: waiting for the store";

pub fn decode_in_child(mut command: Command, stall: Duration, mut on_message: impl FnMut(Message)) -> Result<Result<Decoded, VideoError>, ChildFailure> {
    use std::os::unix::process::CommandExt;
    // Its own process group, so the kill reaches anything it started too
    // (a grandchild holding the pipe would keep the read blocked).
    let mut child = command.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| ChildFailure::Spawn(e.to_string()))?;
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    let last_output_ms = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let stalled = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (last, done, stalled) = (last_output_ms.clone(), done.clone(), stalled.clone());
        std::thread::spawn(move || {
            let tick = (stall / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
            while !done.load(Ordering::Acquire) {
                std::thread::sleep(tick);
                let idle = started.elapsed().saturating_sub(Duration::from_millis(last.load(Ordering::Acquire)));
                if idle > stall && !done.load(Ordering::Acquire) {
                    stalled.store(true, Ordering::Release);
                    // SAFETY: the group is our child's and the child is not
                    // reaped before `done` is set.
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                    return;
                }
            }
        })
    };
    // Keep the tail of stderr for the crash message, without letting a
    // chatty child fill the pipe.
    let stderr_tail = {
        let mut err = child.stderr.take().expect("piped");
        let last = last_output_ms.clone();
        std::thread::spawn(move || {
            let mut tail: Vec<u8> = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if String::from_utf8_lossy(&buf[..n]).contains(WAITING_FOR_STORE) {
                    last.store(started.elapsed().as_millis() as u64, Ordering::Release);
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2048 {
                    tail.drain(..tail.len() - 2048);
                }
            }
            String::from_utf8_lossy(&tail).trim().to_string()
        })
    };
    let mut out = BufReader::with_capacity(1 << 20, child.stdout.take().expect("piped"));
    let mut ending = None;
    let mut at_s: Option<f64> = None;
    let mut protocol: Option<String> = None;
    loop {
        match Message::read(&mut out) {
            Ok(Some(message)) => {
                last_output_ms.store(started.elapsed().as_millis() as u64, Ordering::Release);
                match message {
                    Message::End(end) => ending = Some(end),
                    Message::Frame(f) => {
                        at_s = Some(f.pts_s);
                        on_message(Message::Frame(f));
                    }
                    info => on_message(info),
                }
            }
            Ok(None) | Err(WireError::Closed) => break,
            Err(e) => {
                protocol = Some(e.to_string());
                let _ = child.kill();
                break;
            }
        }
    }
    drop(out);
    let status = child.wait().map_err(|e| ChildFailure::Spawn(e.to_string()));
    done.store(true, Ordering::Release);
    let _ = watchdog.join();
    let stderr = stderr_tail.join().unwrap_or_default();
    if let Some(p) = protocol {
        return Err(ChildFailure::Protocol(p));
    }
    let status = status?;
    match ending {
        Some(end) if status.success() => Ok(end),
        _ if stalled.load(Ordering::Acquire) => Err(ChildFailure::Stalled { stall_s: stall.as_secs_f64(), at_s }),
        _ => Err(ChildFailure::Crashed { how: describe(status, &stderr), at_s }),
    }
}

fn describe(status: ExitStatus, stderr: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (_, Some(sig)) => format!("killed by signal {sig}{}", signal_name(sig).map(|n| format!(" ({n})")).unwrap_or_default()),
        (Some(code), _) => format!("exit code {code}"),
        _ => "ended without a status".to_string(),
    };
    match stderr.lines().last() {
        Some(line) if !line.is_empty() => format!("{how}: {line}"),
        _ => how,
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn a_crash_and_a_hang_are_told_apart_and_never_block() {
        let crashed = decode_in_child(sh("echo 'Assertion failed' >&2; kill -ABRT $$"), Duration::from_secs(30), |_| {}).unwrap_err();
        match &crashed {
            ChildFailure::Crashed { how, at_s: None } => assert!(how.contains("signal 6 (SIGABRT)") && how.contains("Assertion failed"), "{how}"),
            other => panic!("{other:?}"),
        }
        let started = Instant::now();
        let hung = decode_in_child(sh("sleep 30"), Duration::from_millis(300), |_| {}).unwrap_err();
        assert!(matches!(hung, ChildFailure::Stalled { at_s: None, .. }), "{hung:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let garbage = decode_in_child(sh("printf 'Z'"), Duration::from_secs(30), |_| {}).unwrap_err();
        assert!(matches!(garbage, ChildFailure::Protocol(_)), "{garbage:?}");
        let silent = decode_in_child(sh("exit 0"), Duration::from_secs(30), |_| {}).unwrap_err();
        assert!(matches!(silent, ChildFailure::Crashed { .. }), "{silent:?}");
        assert!(matches!(decode_in_child(Command::new("/nonexistent/decoder"), Duration::from_secs(1), |_| {}), Err(ChildFailure::Spawn(_))));
    }
}
