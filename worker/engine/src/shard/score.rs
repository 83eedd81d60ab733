//! A score shard: a detector applied to one row range of an archive. Every
//! row gets its scores or its error (missing, unreadable, not an image);
//! only the store failing over and over fails the shard.
//!
//! Batches start at absolute multiples of the batch size (the planner cuts
//! shards on whole batches), so a row's batch — and its bits on a CPU —
//! never depend on how many workers scored the archive.

use bytes::Bytes;
use rwclip_artifacts::ImageScoreRow;
use rwclip_datasets::is_video_file;
use rwclip_core::hash::content_hash;
use rwclip_plan::{ScoreShardSpec, ShardId};
use rwclip_scoring::input::{is_blank, parquet_uris, record_fields, InputRange, RecordScanner};
use rwclip_scoring::sniff::video_container;
use rwclip_store::shard_store::part;
use rwclip_inputs::preprocess::{Corner, Preprocess, View};

use super::context::ExecContext;
use super::error::ShardError;
use super::batch_scorer::BatchScorer;
use super::score_video::{score_video, VideoDecoder, VideoRef};
use rwclip_video::Segment;
use crate::blocking_store::BlockingStore;
use crate::overlap::{overlapped, PREFETCH_DEPTH};
use crate::embed::parallel_map;
use crate::error::EngineError;
use crate::fnn::Fnn;
use crate::image_reader::{ImageReadError, ImageReader};
use crate::maps::{window_sets, DEFAULT_SCALES};
use crate::pipeline::guides::Guides;

/// One input row: what the output calls it and where its bytes are (or
/// why the row names no image).
struct InputRow {
    uri: String,
    location: Result<String, String>,
}

/// The rows of `range`, in input order.
fn read_rows(id: &ShardId, range: &InputRange, store_of: &dyn Fn(&str) -> Result<BlockingStore, EngineError>) -> Result<(String, Vec<InputRow>), ShardError> {
    let run = ShardError::run(id);
    match range {
        InputRange::Csv { folder, file, uri_column, start, end, first_line, .. } => {
            let store = store_of(folder).map_err(ShardError::run(id))?;
            let bytes = store.block_on(store.store().get_range(file, *start..*end)).map_err(|e| run(e.into()))?;
            let mut ends = Vec::new();
            RecordScanner::default().feed(&bytes, |e| ends.push(e));
            if ends.last().copied() != Some(bytes.len()) {
                ends.push(bytes.len());
            }
            let mut rows = Vec::new();
            let (mut from, mut line) = (0, *first_line);
            for e in ends {
                let text = String::from_utf8_lossy(&bytes[from..e]);
                from = e;
                let this_line = line;
                line += 1;
                if is_blank(&text) {
                    continue;
                }
                let fields = record_fields(&text);
                let row = match fields.get(*uri_column).map(|u| u.trim()).filter(|u| !u.is_empty()) {
                    Some(uri) => InputRow { uri: uri.to_string(), location: Ok(uri.to_string()) },
                    None => InputRow {
                        uri: String::new(),
                        location: Err(format!("{}/{file}, line {this_line}: no uri (column {} of {} fields)", folder, uri_column + 1, fields.len())),
                    },
                };
                rows.push(row);
            }
            Ok((folder.clone(), rows))
        }
        InputRange::Parquet { folder, file, start, rows, .. } => {
            let store = store_of(folder).map_err(ShardError::run(id))?;
            // The whole manifest file: Parquet row groups do not fall on
            // shard boundaries (the coordinator read only its footer).
            let bytes = store.get(file).map_err(|e| run(e.into()))?;
            let uris = parquet_uris(&format!("{folder}/{file}"), bytes, *start, *rows).map_err(|e| ShardError::BadInput { shard: id.clone(), problem: e.to_string() })?;
            let rows = uris
                .into_iter()
                .enumerate()
                .map(|(i, u)| match u {
                    Some(uri) => InputRow { uri: uri.clone(), location: Ok(uri) },
                    None => InputRow { uri: String::new(), location: Err(format!("{folder}/{file}, row {}: no uri", *start + i as u64 + 1)) },
                })
                .collect();
            Ok((folder.clone(), rows))
        }
        InputRange::Video { root, key, name, .. } => Ok((root.clone(), vec![InputRow { uri: name.clone().unwrap_or_else(|| format!("{root}/{key}")), location: Ok(key.clone()) }])),
        InputRange::Keys { root, after, last, .. } => {
            let store = store_of(root).map_err(ShardError::run(id))?;
            let mut keys = Vec::new();
            let collect = |k: &str| {
                if k <= last.as_str() && after.as_deref().is_none_or(|a| k > a) && rwclip_datasets::is_scored_file(k) {
                    keys.push(k.to_string());
                }
            };
            match after {
                Some(a) => store.block_on(store.store().for_each_key_after("", a, collect)),
                None => store.block_on(store.store().for_each_key("", collect)),
            }
            .map_err(|e| run(e.into()))?;
            keys.sort();
            let rows = keys.into_iter().map(|k| InputRow { uri: format!("{root}/{k}"), location: Ok(k) }).collect();
            Ok((root.clone(), rows))
        }
    }
}

pub fn score(
    id: &ShardId,
    s: &ScoreShardSpec,
    ctx: &mut ExecContext,
    store: &BlockingStore,
    prefix: &str,
    progress: &dyn Fn(u64, u64),
) -> Result<Vec<String>, ShardError> {
    let bad = |problem: String| ShardError::BadInput { shard: id.clone(), problem };
    let run = ShardError::run(id);
    let (detector_store, name) = BlockingStore::open_file(&s.detector).map_err(|e| run(e.into()))?;
    let bytes: Bytes = detector_store.get(&name).map_err(|e| run(e.into()))?;
    if content_hash(&bytes) != s.detector_digest {
        return Err(bad(format!("detector {} changed since the job was planned; submit the job again", s.detector)));
    }
    let info = Fnn::detector_info(&bytes)
        .map_err(|e| bad(format!("detector {}: {e}", s.detector)))?
        .ok_or_else(|| bad(format!("{} is an FNN checkpoint without detector metadata", s.detector)))?;
    let digest = ctx.weights_digest(&s.model).map_err(ShardError::run(id))?;
    let given = s.model.weights.clone().unwrap_or_else(|| "random init".to_string());
    info.check_model(&s.detector, &s.model.preset, &digest, &given).map_err(|e| bad(e.to_string()))?;
    let fnn = Fnn::from_safetensors(&bytes, ctx.device).map_err(|e| bad(format!("detector {}: {e}", s.detector)))?;
    let model = ctx.model(&s.model).map_err(ShardError::run(id))?;
    let tokenizer = ctx.tokenizer().map_err(ShardError::run(id))?;
    let guides = Guides::embed(&model, &tokenizer, &info.normal_word, &info.anomaly_word, std::slice::from_ref(&info.object_word)).map_err(ShardError::run(id))?;
    let guide_pair = guides.pair(&info.object_word).expect("the detector's object word was embedded");
    let windows = s.maps.then(|| window_sets(&model, &DEFAULT_SCALES));

    let (root, rows) = read_rows(id, &s.input.range, &|uri| BlockingStore::open(uri).map_err(EngineError::from))?;
    if rows.len() as u64 != s.input.rows {
        return Err(bad(format!("the input changed since the job was planned: {} rows where {} were planned; submit the job again", rows.len(), s.input.rows)));
    }
    let reader = ImageReader::open(&root).map_err(|e| run(e.into()))?;
    let size = model.cfg.vision.image_size as u32;
    let preprocess = Preprocess::openai(size);
    let views: Vec<View> = if info.multi_crop { std::iter::once(View::Center).chain(Corner::ALL.into_iter().map(View::Corner)).collect() } else { vec![View::Center] };
    let scorer = BatchScorer { id, model: &model, fnn: &fnn, guides: &guides, guide_pair, info: &info, windows: windows.as_deref(), views: views.len(), size };
    let batch = s.batch_size.max(1);
    let total = rows.len() as u64;
    let mut out: Vec<ImageScoreRow> = Vec::with_capacity(rows.len());
    let chunks: Vec<&[InputRow]> = rows.chunks(batch).collect();
    let mut videos: Option<VideoDecoder> = None;
    // The plan tells a video by its name or, for a file of no known kind,
    // by its head: a video range is one whatever its name.
    let video_range = matches!(s.input.range, InputRange::Video { .. });
    let is_video = |location: &str| video_range || is_video_file(location);
    // Reads and decoding of the next batches overlap the model on this one;
    // a video row is expanded into its frames where it stands.
    let prepare = |b: usize| -> Result<Vec<Prepared>, ShardError> {
        let chunk = chunks[b];
        // Bytes of every row that names an image; errors stay per row.
        let wanted: Vec<String> = chunk.iter().filter_map(|r| r.location.as_ref().ok().filter(|l| !is_video(l)).cloned()).collect();
        let mut fetched = reader
            .read_each(&wanted)
            .map_err(|e| match e {
                ImageReadError::Store { source, .. } => run(EngineError::Store(source)),
                other => run(EngineError::Usage(other.to_string())),
            })?
            .into_iter();
        let read: Vec<Result<Bytes, String>> = chunk
            .iter()
            .map(|r| match &r.location {
                Ok(l) if is_video(l) => Ok(Bytes::new()),
                Ok(_) => fetched.next().expect("one result per wanted row").map_err(|e| e.to_string()),
                Err(why) => Err(why.clone()),
            })
            .collect();
        Ok(decode_all(&preprocess, chunk, &read, &views, &is_video))
    };
    overlapped(chunks.len(), PREFETCH_DEPTH, prepare, |b, prepared| {
        let chunk = chunks[b];
        let prepared = prepared?;
        let stills: Vec<&Vec<Vec<f32>>> = prepared.iter().filter_map(|p| match p {
            Prepared::Still(Ok(v)) => Some(v),
            _ => None,
        }).collect();
        let mut scored = scorer.score(&stills)?.into_iter();
        for (r, p) in chunk.iter().zip(&prepared) {
            match p {
                Prepared::Still(Ok(_)) => out.push(scored.next().expect("one score per still").into_row(&r.uri, None)),
                Prepared::Still(Err(why)) => out.push(ImageScoreRow::failed(&r.uri, why.clone(), None)),
                Prepared::Video(key) => {
                    if videos.is_none() {
                        videos = Some(VideoDecoder::locate().map_err(|e| run(EngineError::Usage(e)))?);
                    }
                    let decoder = videos.as_ref().expect("located above");
                    // A long video's shard scores only its ticks.
                    let segment = match &s.input.range {
                        InputRange::Video { first_tick, end_tick, .. } if (*first_tick, *end_tick) != (0, None) => Some(Segment { first_tick: *first_tick, end_tick: *end_tick }),
                        _ => None,
                    };
                    // A manifest may name a video by an absolute path or URL.
                    let (video_root, video_key) = if key.contains("://") || key.starts_with('/') { rwclip_core::split_file_uri(key) } else { (root.clone(), key.clone()) };
                    let (span, length_note) = match &s.input.range {
                        InputRange::Video { span, length_note, .. } => (*span, length_note.as_deref()),
                        _ => (None, None),
                    };
                    let video = VideoRef { root: &video_root, key: &video_key, uri: &r.uri, span, length_note };
                    // Progress counts frames as they are scored; the total
                    // is known only when the decoder is done.
                    let frames_done = |n: u64| progress(n, n + 1);
                    score_video(decoder, &video, s.sampling, segment, batch, &preprocess, &views, &scorer, &mut out, &frames_done)?;
                }
            }
        }
        // Rows out so far (stills and frames) of at least the rows in.
        let done = out.len() as u64;
        progress(done, total.max(done + 1));
        Ok::<(), ShardError>(())
    })?;
    progress(out.len() as u64, out.len() as u64);
    let key = format!("{prefix}{}", part::IMAGE_SCORES);
    store.write_rows(&key, &out).map_err(ShardError::run(id))?;
    Ok(vec![key])
}

/// One input row made ready for the model: a still's views (or why it has
/// none), or a video to expand into frames.
enum Prepared {
    Still(Result<Vec<Vec<f32>>, String>),
    Video(String),
}

/// Every view of every readable row, each row decoded once, on all cores;
/// a row's error is why it could not be read or decoded.
fn decode_all(preprocess: &Preprocess, chunk: &[InputRow], read: &[Result<Bytes, String>], views: &[View], is_video: &(dyn Fn(&str) -> bool + Sync)) -> Vec<Prepared> {
    let items: Vec<(&InputRow, &Result<Bytes, String>)> = chunk.iter().zip(read).collect();
    parallel_map(&items, |(row, r)| match &row.location {
        Ok(key) if is_video(key) => Prepared::Video(key.clone()),
        _ => Prepared::Still(r.as_ref().map_err(Clone::clone).and_then(|bytes| {
            preprocess.load_bytes_views(bytes, &row.uri, views).map_err(|e| match video_container(bytes) {
                // A video under an image's name: said plainly, since the
                // image decoder's complaint would not.
                Some(container) => format!("{}: a video ({container}) under a name that is not a video's; give it a video extension (.mpg, .mp4, .avi, .wmv, .mkv …) to score its frames", row.uri),
                None => e.to_string(),
            })
        })),
    })
}
