//! The planner's video lengths, read from container headers without a
//! decoder, agree with ffprobe's on every container a sewer archive holds,
//! locally and through the same ranged reads an S3 store gets; and no bytes
//! a file may hold make the header readers, the sniffer or the cut of a
//! video into shards panic, allocate past their bound or plan past the
//! shard limit (a seeded fuzzer over real headers, mutated).
//!
//! The fuzzer runs `RWCLIP_FUZZ_ITERS` cases (100,000 by default, a few
//! seconds) from `RWCLIP_FUZZ_SEED`; a longer run is
//! `RWCLIP_FUZZ_ITERS=5000000 cargo test --release -p rwclip-scoring --test it fuzz`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::process::Command;

use rwclip_artifacts::Store;
use rwclip_plan::score_input::InputRange;
use rwclip_job::sampling::Sampling;
use rwclip_scoring::sniff::{video_container, worth_sniffing, SNIFF_BYTES};
use rwclip_scoring::video_cut::{VideoSegments, MAX_SHARDS_PER_VIDEO};
use rwclip_scoring::video_length::{stated_seconds, video_seconds, MAX_READ_BYTES};
use rwclip_scoring::video_cut::VideoCut;

/// Counts this thread's live heap bytes and their peak, so a case's
/// allocations are measured apart from other tests' threads.
struct Metered;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let _ = LIVE.try_with(|l| {
                l.set(l.get() + layout.size());
                let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
            });
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(layout.size())));
    }
}

#[global_allocator]
static METERED: Metered = Metered;

/// Peak heap bytes `f` held above what was live when it began.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}

fn ffmpeg(path: &std::path::Path, seconds: &str, codec: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", seconds])
        .args(codec)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg ({e}): install Debian's ffmpeg (make test's bootstrap does)"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn ffprobe(path: &std::path::Path) -> f64 {
    let out = Command::new("ffprobe").args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]).arg(path).output().expect("ffprobe (Debian's ffmpeg)");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

const CONTAINERS: [(&str, &[&str]); 7] = [
    ("a.mpg", &["-c:v", "mpeg2video"]),
    ("b.mp4", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("c.mp4", &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]),
    ("d.mov", &["-c:v", "mpeg4"]),
    ("e.avi", &["-c:v", "mpeg4"]),
    ("f.wmv", &["-c:v", "wmv2"]),
    ("g.mkv", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
];

#[test]
fn container_lengths_agree_with_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    for (name, codec) in CONTAINERS {
        let path = dir.path().join(name);
        ffmpeg(&path, "13", codec);
        let size = std::fs::metadata(&path).unwrap().len();
        let ours = rt.block_on(video_seconds(&store, name, size)).unwrap().unwrap_or_else(|| panic!("{name}: no length read"));
        let reference = ffprobe(&path);
        assert!((ours - reference).abs() < 0.5, "{name}: {ours} s, ffprobe {reference} s");
    }
    // Not a container this reads: no length, not an error.
    std::fs::write(dir.path().join("x.mp4"), b"0123456789abcdefghijklmnop").unwrap();
    assert_eq!(rt.block_on(video_seconds(&store, "x.mp4", 26)).unwrap(), None);
}

/// splitmix64: a seeded stream, so a failing case is found again by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// An MP4 whose `mdat` has a 64-bit size (as in files over 4 GB): `ftyp`,
/// then `mdat` with size field 1 and its real size in 64 bits, then `moov`.
fn mp4_with_64_bit_mdat(mp4: &[u8]) -> Vec<u8> {
    let mut at = 0usize;
    let mut out = Vec::new();
    while at + 8 <= mp4.len() {
        let len = u32::from_be_bytes(mp4[at..at + 4].try_into().unwrap()) as usize;
        if len < 8 || at + len > mp4.len() {
            break;
        }
        if &mp4[at + 4..at + 8] == b"mdat" {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(b"mdat");
            out.extend_from_slice(&((len + 8) as u64).to_be_bytes());
            out.extend_from_slice(&mp4[at + 8..at + len]);
        } else {
            out.extend_from_slice(&mp4[at..at + len]);
        }
        at += len;
    }
    out
}

/// A real AVI with its `avih` saying 4,294,967,295 µs per frame and as many frames.
fn forged_avi(avi: &[u8]) -> Vec<u8> {
    let mut forged = avi.to_vec();
    let at = forged.windows(4).position(|w| w == b"avih").unwrap() + 8;
    forged[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    forged[at + 16..at + 20].copy_from_slice(&u32::MAX.to_le_bytes());
    forged
}

/// One mutation of `seed`: values that break arithmetic written over
/// fields, bytes flipped, the file cut short or grown, or noise.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    const EXTREMES: [u64; 8] = [0, 1, 0x7F, 0xFF, u32::MAX as u64, u64::MAX, u64::MAX - 7, u64::MAX - 31];
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            break;
        }
        match rng.below(7) {
            0 => {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
            }
            1 | 2 => {
                // An extreme value over a 4- or 8-byte field, big- or little-endian.
                let width = if rng.below(2) == 0 { 4 } else { 8 };
                let at = rng.below(b.len().saturating_sub(width).max(1));
                let v = EXTREMES[rng.below(EXTREMES.len())];
                let bytes = if rng.below(2) == 0 { v.to_be_bytes() } else { v.to_le_bytes() };
                let from = if rng.below(2) == 0 { 8 - width } else { 0 };
                for (i, x) in bytes[from..from + width].iter().enumerate() {
                    if let Some(slot) = b.get_mut(at + i) {
                        *slot = *x;
                    }
                }
            }
            3 => {
                // A field beside a known marker: where the readers look.
                let markers: [&[u8]; 8] = [b"avih", b"dmlh", b"mvhd", b"moov", b"mdat", &[0x44, 0x89], &[0x2A, 0xD7, 0xB1], &[0, 0, 1, 0xBA]];
                let marker = markers[rng.below(markers.len())];
                if let Some(p) = b.windows(marker.len()).position(|w| w == marker) {
                    let at = p + marker.len() + rng.below(40);
                    let v = EXTREMES[rng.below(EXTREMES.len())].to_le_bytes();
                    for (i, x) in v.iter().enumerate() {
                        if let Some(slot) = b.get_mut(at + i) {
                            *slot = *x;
                        }
                    }
                }
            }
            4 => b.truncate(rng.below(b.len() + 1)),
            5 => {
                let n = rng.below(4096);
                b.extend((0..n).map(|_| rng.next() as u8));
            }
            _ => {
                let at = rng.below(b.len());
                let n = rng.below(64).min(b.len() - at);
                for x in &mut b[at..at + n] {
                    *x = rng.next() as u8;
                }
            }
        }
    }
    b
}

#[test]
fn fuzz_header_readers_sniffer_and_video_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for (name, codec) in CONTAINERS {
        let path = dir.path().join(name);
        ffmpeg(&path, "2", codec);
        seeds.push(std::fs::read(&path).unwrap());
    }
    let mp4 = seeds[1].clone();
    let mp4_64 = mp4_with_64_bit_mdat(&mp4);
    assert!(futures::executor::block_on(stated_seconds(&mp4_64[..])).unwrap().is_some(), "a 64-bit mdat size is read");
    seeds.push(mp4_64);
    seeds.push(forged_avi(&seeds[4]));
    let iterations: u64 = std::env::var("RWCLIP_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let seed: u64 = std::env::var("RWCLIP_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    let mut rng = Rng(seed);
    let started = std::time::Instant::now();
    let (mut with_length, mut not_believed, mut max_peak) = (0u64, 0u64, 0usize);
    for case in 0..iterations {
        let bytes = match rng.below(10) {
            0 => (0..rng.below(2048)).map(|_| rng.next() as u8).collect(),
            _ => {
                let s = rng.below(seeds.len());
                mutate(&mut rng, &seeds[s])
            }
        };
        let (seconds, peak) = peak_of(|| futures::executor::block_on(stated_seconds(&bytes[..])).unwrap());
        max_peak = max_peak.max(peak);
        assert!(peak as u64 <= MAX_READ_BYTES + (64 << 10), "case {case} (seed {seed}): {peak} bytes allocated");
        if let Some(s) = seconds {
            assert!(s.is_finite() && s > 0.0, "case {case}: {s}");
            with_length += 1;
        }
        let head = &bytes[..bytes.len().min(SNIFF_BYTES as usize)];
        let _ = video_container(head);
        let _ = worth_sniffing(&String::from_utf8_lossy(head));
        let sampling = match rng.below(4) {
            0 => Sampling::EveryNth(1 + rng.next() % 100),
            _ => Sampling::Fps([1e-3, 0.5, 1.0, 30.0, 1e6][rng.below(5)]),
        };
        let cut = VideoCut { sampling, frames_per_shard: [1, 7, 1024, u64::MAX][rng.below(4)] };
        let range = InputRange::Video { root: "r".into(), key: "v".into(), size: bytes.len() as u64, first_tick: 0, end_tick: None, name: None, span: None, length_note: None };
        let (segments, peak) = peak_of(|| {
            let segments = VideoSegments::plan(range, seconds, cut);
            let count = segments.count;
            let made: Vec<InputRange> = segments.collect();
            (count, made)
        });
        let (count, made) = segments;
        assert!(count >= 1 && count <= MAX_SHARDS_PER_VIDEO && made.len() as u64 == count, "case {case}: {count} shards");
        assert!(peak <= (MAX_SHARDS_PER_VIDEO as usize) * 512, "case {case}: planning took {peak} bytes");
        // The shards tile the ticks: each starts where the last ended, the
        // last open-ended.
        let mut expect = 0;
        for (k, r) in made.iter().enumerate() {
            let InputRange::Video { first_tick, end_tick, length_note, .. } = r else { unreachable!() };
            assert_eq!(*first_tick, expect, "case {case}");
            assert_eq!(end_tick.is_none(), k + 1 == made.len(), "case {case}");
            expect = end_tick.unwrap_or(0);
            not_believed += u64::from(length_note.is_some());
        }
    }
    eprintln!(
        "fuzz: {iterations} cases from seed {seed} in {:.2} s; {with_length} with a stated length, {not_believed} not believed; largest peak {max_peak} bytes (bound {MAX_READ_BYTES})",
        started.elapsed().as_secs_f64()
    );
    assert!(with_length > iterations / 10, "the mutations keep most headers readable: {with_length}");
    assert!(not_believed > 0, "some mutated lengths are beyond their files");
}

#[test]
fn the_forged_avi_of_the_report_is_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.avi");
    ffmpeg(&path, "2", &["-c:v", "mpeg4"]);
    let forged = forged_avi(&std::fs::read(&path).unwrap());
    let seconds = futures::executor::block_on(stated_seconds(&forged[..])).unwrap();
    assert_eq!(seconds, Some(f64::from(u32::MAX) * f64::from(u32::MAX) / 1e6));
    let range = InputRange::Video { root: "r".into(), key: "v".into(), size: forged.len() as u64, first_tick: 0, end_tick: None, name: None, span: None, length_note: None };
    let mut segments = VideoSegments::plan(range, seconds, VideoCut { sampling: Sampling::Fps(1.0), frames_per_shard: 1024 });
    assert_eq!(segments.count, 1);
    assert!(matches!(segments.next(), Some(InputRange::Video { end_tick: None, length_note: Some(_), .. })));
}
