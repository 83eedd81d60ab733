//! Decoding in a child process under a watchdog: libav can abort the whole
//! process or spin on a broken stream, and neither may take a worker's
//! other videos with it. The child writes [`Message`]s on stdout; the
//! parent kills it when it says nothing for too long.

use std::io::{BufReader, Read};
use std::ops::ControlFlow;
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
    /// It could not be started now (no process or memory to spare): the
    /// shard is retried, never recorded as the video's fault.
    #[error("cannot start the decoder process now: {0}")]
    SpawnBusy(String),
    #[error("the decoder crashed ({how}){}", after(*at_s))]
    Crashed { how: String, at_s: Option<f64> },
    #[error("the decoder hung (no output for {stall_s:.0} s) and was killed{}", after(*at_s))]
    Stalled { stall_s: f64, at_s: Option<f64> },
    #[error("{0}")]
    Protocol(String),
    /// The parent had what it wanted and stopped it.
    #[error("the decoder was stopped once its frame was found")]
    Stopped,
}

fn after(at_s: Option<f64>) -> String {
    at_s.map(|t| format!(" after {t:.1} s of video")).unwrap_or_default()
}

/// What a decoder prints on stderr while a store read of its video is
/// still retrying: alive, not hung.
pub const WAITING_FOR_STORE: &str = "rwclip-decode: waiting for the store";

/// Runs `command` (a decoder child), hands each info and frame message to
/// `on_message` as it arrives, and returns the child's own ending, or why
/// there is none.
///
/// The watchdog measures the child's silence only while the parent waits
/// on it: time the parent spends in `on_message` (scoring a batch) is not
/// the decoder's. The child dies with the thread that started it (the
/// caller's, which waits for it here), so a worker killed with SIGKILL
/// leaves no decoder behind.
pub fn decode_in_child(mut command: Command, stall: Duration, mut on_message: impl FnMut(Message) -> ControlFlow<()>) -> Result<Result<Decoded, VideoError>, ChildFailure> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the hook runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the prctl took effect.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the worker exited while its decoder started"));
            }
            Ok(())
        });
    }
    // Its own process group, so the kill reaches anything it started too
    // (a grandchild holding the pipe would keep the read blocked).
    let mut child = command.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(spawn_failure)?;
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    let last_output_ms = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let stalled = Arc::new(AtomicBool::new(false));
    let parent_busy = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (last, done, stalled, busy) = (last_output_ms.clone(), done.clone(), stalled.clone(), parent_busy.clone());
        std::thread::spawn(move || {
            let tick = (stall / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
            while !done.load(Ordering::Acquire) {
                std::thread::sleep(tick);
                if busy.load(Ordering::Acquire) {
                    continue;
                }
                let idle = started.elapsed().saturating_sub(Duration::from_millis(last.load(Ordering::Acquire)));
                if idle > stall && !done.load(Ordering::Acquire) {
                    stalled.store(true, Ordering::Release);
                    // SAFETY: the child is not reaped before this thread is
                    // joined, so `pid` is still its process group's id.
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
    let mut stopped = false;
    let mut handle = |message: Message| {
        parent_busy.store(true, Ordering::Release);
        let flow = on_message(message);
        // The clock restarts when the parent is ready for more.
        last_output_ms.store(started.elapsed().as_millis() as u64, Ordering::Release);
        parent_busy.store(false, Ordering::Release);
        flow
    };
    loop {
        match Message::read(&mut out) {
            Ok(Some(message)) => {
                last_output_ms.store(started.elapsed().as_millis() as u64, Ordering::Release);
                match message {
                    Message::End(end) => ending = Some(end),
                    Message::Frame(f) => {
                        at_s = Some(f.pts_s);
                        stopped = handle(Message::Frame(f)).is_break();
                    }
                    info => stopped = handle(info).is_break(),
                }
                if stopped {
                    let _ = child.kill();
                    break;
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
    // Wait for the exit without reaping: until the child is reaped its pid,
    // and so its group's id, cannot be given to another process, and the
    // watchdog may still signal it.
    wait_exited(pid);
    done.store(true, Ordering::Release);
    let _ = watchdog.join();
    let status = child.wait().map_err(|e| ChildFailure::Spawn(e.to_string()));
    let stderr = stderr_tail.join().unwrap_or_default();
    if let Some(p) = protocol {
        return Err(ChildFailure::Protocol(p));
    }
    if stopped {
        return Err(ChildFailure::Stopped);
    }
    let status = status?;
    match ending {
        Some(end) if status.success() => Ok(end),
        _ if stalled.load(Ordering::Acquire) => Err(ChildFailure::Stalled { stall_s: stall.as_secs_f64(), at_s }),
        _ => Err(ChildFailure::Crashed { how: describe(status, &stderr), at_s }),
    }
}

/// Blocks until `pid` has exited, leaving it unreaped (`WNOWAIT`).
fn wait_exited(pid: libc::pid_t) {
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// A failed start: out of processes or memory for now (`EAGAIN`,
/// `ENOMEM`) may pass; a missing or unrunnable binary will not.
fn spawn_failure(e: std::io::Error) -> ChildFailure {
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::ENOMEM) => ChildFailure::SpawnBusy(e.to_string()),
        _ => ChildFailure::Spawn(e.to_string()),
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
        let crashed = decode_in_child(sh("echo 'Assertion failed' >&2; kill -ABRT $$"), Duration::from_secs(30), |_| ControlFlow::Continue(())).unwrap_err();
        match &crashed {
            ChildFailure::Crashed { how, at_s: None } => assert!(how.contains("signal 6 (SIGABRT)") && how.contains("Assertion failed"), "{how}"),
            other => panic!("{other:?}"),
        }
        let started = Instant::now();
        let hung = decode_in_child(sh("sleep 30"), Duration::from_millis(300), |_| ControlFlow::Continue(())).unwrap_err();
        assert!(matches!(hung, ChildFailure::Stalled { at_s: None, .. }), "{hung:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let garbage = decode_in_child(sh("printf 'Z'"), Duration::from_secs(30), |_| ControlFlow::Continue(())).unwrap_err();
        assert!(matches!(garbage, ChildFailure::Protocol(_)), "{garbage:?}");
        let silent = decode_in_child(sh("exit 0"), Duration::from_secs(30), |_| ControlFlow::Continue(())).unwrap_err();
        assert!(matches!(silent, ChildFailure::Crashed { .. }), "{silent:?}");
        assert!(matches!(decode_in_child(Command::new("/nonexistent/decoder"), Duration::from_secs(1), |_| ControlFlow::Continue(())), Err(ChildFailure::Spawn(_))));
    }

    /// A decoder that has its frames ready while the parent scores slowly:
    /// the parent's time is not the decoder's silence.
    #[test]
    fn a_slow_scorer_does_not_get_a_healthy_decoder_killed() {
        use crate::frames::{Ending, Frame, VideoInfo};
        let dir = tempfile::tempdir().unwrap();
        let info = VideoInfo { codec: "h264".into(), width: 1024, height: 1024, duration_s: Some(4.0), fps: Some(1.0) };
        let mut bytes = Vec::new();
        Message::Info(info.clone()).write(&mut bytes).unwrap();
        // 3 MB a frame: the child blocks on the pipe until the parent has
        // scored the frames before, so it cannot finish early.
        for i in 0..4u64 {
            Message::Frame(Frame { index: i, pts_s: i as f64, target_s: Some(i as f64), width: 1024, height: 1024, rgb: vec![i as u8; 1024 * 1024 * 3] }).write(&mut bytes).unwrap();
        }
        Message::End(Ok(Decoded { info, decoded: 4, sampled: 4, corrupt: 0, ending: Ending::Complete })).write(&mut bytes).unwrap();
        let stream = dir.path().join("stream");
        std::fs::write(&stream, &bytes).unwrap();
        let mut frames = 0;
        let ended = decode_in_child(sh(&format!("cat {}", stream.display())), Duration::from_millis(200), |m| {
            if let Message::Frame(_) = m {
                frames += 1;
                std::thread::sleep(Duration::from_millis(600));
            }
            ControlFlow::Continue(())
        });
        assert!(matches!(ended, Ok(Ok(_))), "{ended:?}");
        assert_eq!(frames, 4);
    }
}
