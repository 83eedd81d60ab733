//! `rwclip-decode ROOT KEY SAMPLING [THREADS [FIRST:END]]`: decodes the
//! video `KEY` of the store at `ROOT` (a folder or `s3://` prefix), only the
//! fps ticks `FIRST..END` when given (END empty: to the end), and writes the
//! messages of `rwclip_video::wire` on stdout. The worker runs it as a child under a
//! watchdog: whatever libav does to this process (abort, hang) costs one
//! video, never the shard. Only this binary links FFmpeg.

mod store_reader;

use std::io::Write;
use std::str::FromStr;

use rwclip_decoder::decode;
use rwclip_video::{DecodeOptions, Message, Sampling, Segment, VideoError};

use store_reader::StoreReader;

/// Test hook: `RWCLIP_DECODE_FAILPOINT=<key substring>:abort|hang[,…]`
/// makes this process abort or hang after two frames of matching videos,
/// as libav can, so the worker's watchdog is exercised by real processes.
const FAILPOINT: &str = "RWCLIP_DECODE_FAILPOINT";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, key, sampling, rest @ ..] = args.as_slice() else {
        eprintln!("usage: rwclip-decode ROOT KEY SAMPLING [THREADS [FIRST:END]]");
        std::process::exit(2);
    };
    let sampling = Sampling::from_str(sampling).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let threads = rest.first().and_then(|t| t.parse().ok()).unwrap_or(1);
    let segment = rest.get(1).map(|s| {
        Segment::parse(s).unwrap_or_else(|| {
            eprintln!("segment {s:?}: expected FIRST:END or FIRST:");
            std::process::exit(2)
        })
    });
    store_reader::tell_while_waiting(std::time::Duration::from_secs(5));
    let stdout = std::io::stdout();
    let out = std::cell::RefCell::new(std::io::BufWriter::with_capacity(1 << 20, stdout.lock()));
    let video = format!("{}/{key}", root.trim_end_matches('/'));
    let failpoint = std::env::var(FAILPOINT).ok().and_then(|f| {
        f.split(',').find_map(|one| {
            let (pattern, action) = one.rsplit_once(':')?;
            key.contains(pattern).then(|| action.to_string())
        })
    });
    let end = match StoreReader::open(root, key) {
        Ok(reader) => {
            let size = reader.size();
            let outage = reader.outage();
            let mut sent = 0u64;
            let decoded = decode(
                reader,
                size,
                &video,
                &DecodeOptions { sampling, threads, segment },
                |info| write(&mut *out.borrow_mut(), &Message::Info(info.clone())),
                |frame| {
                    write(&mut *out.borrow_mut(), &Message::Frame(frame));
                    sent += 1;
                    if sent == 2 {
                        match failpoint.as_deref() {
                            Some("abort") => std::process::abort(),
                            Some("hang") => loop {
                                std::thread::park();
                            },
                            _ => {}
                        }
                    }
                },
            );
            // Frames already sent are sent again when the shard is retried:
            // the same bytes decode to the same frames.
            match outage.take() {
                Some(reason) => Err(VideoError::StoreUnavailable { video: video.clone(), reason }),
                None => decoded,
            }
        }
        Err(e) => Err(e),
    };
    write(&mut *out.borrow_mut(), &Message::End(end));
}

/// A frame the parent cannot take (it went away) ends this process.
fn write(out: &mut impl Write, message: &Message) {
    if message.write(out).and_then(|_| out.flush()).is_err() {
        std::process::exit(1);
    }
}
