//! The contact sheet shard: a scoring job's best-scored images, ranked as
//! `top_k.csv` ranks them, read again and drawn as thumbnails on one sheet.
//! A video's frame is decoded again by `rwclip-decode` (one seek and a few
//! frames with fps sampling), never by reading the whole file. An image or
//! frame that cannot be read any more is a captioned empty cell, never a
//! failed shard; only the store failing over and over fails it.

use bytes::Bytes;
use rwclip_plan::{ContactSheetSpec, ShardId};
use rwclip_artifacts::ImageScoreRow;
use rwclip_figures::{contact_sheet as draw_sheet, overlay_centre_square, SheetImage, Thumbnail, THUMB_SIDE};
use rwclip_scoring::row_error::error_kind;
use rwclip_scoring::top_k::{rank_top_k, DepsError};
use rwclip_store::shard_store::ShardStoreError;
use rwclip_store::shard_store::part;
use rwclip_inputs::preprocess::{thumbnail_of_frame, thumbnail_rgb};

use super::error::ShardError;
use super::score_video::{decode_scored_frame, VideoDecoder};
use crate::blocking_store::BlockingStore;
use crate::embed::parallel_map;
use crate::error::EngineError;
use crate::image_reader::{ImageReadError, ImageReader};

pub fn contact_sheet(id: &ShardId, s: &ContactSheetSpec, store: &BlockingStore, prefix: &str, progress: &dyn Fn(u64, u64)) -> Result<Vec<String>, ShardError> {
    let run = ShardError::run(id);
    let top = store.block_on(rank_top_k(store.store(), id, &s.shards, s.images)).map_err(|e| match e {
        DepsError::Missing { shard, .. } => ShardError::store(id)(ShardStoreError::MissingDependency { reader: id.clone(), dep: shard }),
        DepsError::Shard(e) => ShardError::store(id)(e),
    })?;
    let reader = ImageReader::open(&s.root).map_err(|e| run(e.into()))?;
    // A listed prefix's rows carry `<root>/<key>`; the reader wants the key.
    let root = format!("{}/", s.root.trim_end_matches('/'));
    let stills: Vec<String> = top.iter().filter(|r| r.at.is_none()).map(|r| r.uri.strip_prefix(&root).unwrap_or(&r.uri).to_string()).collect();
    let mut read = reader
        .read_each(&stills)
        .map_err(|e| match e {
            ImageReadError::Store { source, .. } => run(EngineError::Store(source)),
            other => run(EngineError::Usage(other.to_string())),
        })?
        .into_iter();
    let items: Vec<(&ImageScoreRow, Option<Result<Bytes, ImageReadError>>)> = top.iter().map(|r| (r, r.at.is_none().then(|| read.next().expect("one read per still")))).collect();
    // Located only when a frame is on the sheet: a sheet of stills needs
    // no decoder.
    let decoder = top.iter().any(|r| r.at.is_some_and(|a| a.frame.is_some())).then(VideoDecoder::locate);
    let thumbs = parallel_map(&items, |(row, bytes)| {
        let t = match (bytes, row.at) {
            (Some(bytes), _) => thumbnail_rgb(bytes.as_ref().map_err(|e| e.to_string())?, &row.uri, THUMB_SIDE).map_err(|e| e.to_string())?,
            (None, Some(at)) => {
                let decoder = decoder.as_ref().expect("located for frames").as_ref().map_err(Clone::clone)?;
                // Named as the scoring shard named it: below the input's
                // root, or by an absolute path or URL in a manifest.
                let name = row.uri.strip_prefix(&root).unwrap_or(&row.uri);
                let (video_root, key) = if name.contains("://") || name.starts_with('/') { rwclip_core::split_file_uri(name) } else { (s.root.clone(), name.to_string()) };
                let frame = decode_scored_frame(decoder, &video_root, &key, s.sampling, &at)?;
                thumbnail_of_frame(frame.width, frame.height, frame.rgb, THUMB_SIDE).ok_or("the decoder sent a frame of the wrong size")?
            }
            (None, None) => unreachable!("a still is read"),
        };
        let (width, height) = (t.width(), t.height());
        let mut rgb = t.into_raw();
        // Scored with maps: the map over the part of the image the model saw.
        if let Some(map) = &row.map {
            let side = (map.bytes.len() as f64).sqrt() as usize;
            if side * side == map.bytes.len() {
                overlay_centre_square(&mut rgb, width, height, &map.values(), side);
            }
        }
        Ok(Thumbnail { width, height, rgb })
    });
    let images: Vec<SheetImage> = top
        .iter()
        .zip(thumbs)
        .enumerate()
        .map(|(i, (r, thumb))| {
            // A frame is captioned with its video and time.
            let uri = match r.at {
                Some(at) => {
                    let metres = at.distance_m.map(|m| format!(", {m:.1} m")).unwrap_or_default();
                    format!("{} at {}{metres}", r.uri, rwclip_scoring::videos::hms(at.pts_s))
                }
                None => r.uri.clone(),
            };
            SheetImage { rank: i + 1, uri, score: r.score.unwrap_or(f64::NAN), thumb: thumb.map_err(|why: String| error_kind(&why).to_string()) }
        })
        .collect();
    progress(images.len() as u64, images.len() as u64);
    let heading = format!("The {} best-scored images", images.len());
    let figure = draw_sheet(part::CONTACT_SHEET, &heading, &s.title, &images).map_err(|problem| ShardError::BadInput { shard: id.clone(), problem: format!("drawing the contact sheet: {problem}") })?;
    let mut keys = Vec::new();
    for (ext, bytes) in [("svg", Bytes::from(figure.svg)), ("png", Bytes::from(figure.png))] {
        let key = format!("{prefix}{}.{ext}", part::CONTACT_SHEET);
        store.put(&key, bytes).map_err(|e| run(e.into()))?;
        keys.push(key);
    }
    Ok(keys)
}
