//! The contact sheet shard: a scoring job's best-scored images, ranked as
//! `top_k.csv` ranks them, read again and drawn as thumbnails on one sheet.
//! An image that cannot be read any more is a captioned empty cell, never a
//! failed shard; only the store failing over and over fails it.

use bytes::Bytes;
use rwclip_common::plan::{ContactSheetSpec, ShardId};
use rwclip_common::artifacts::ImageScoreRow;
use rwclip_common::plots::{contact_sheet as draw_sheet, overlay_centre_square, SheetImage, Thumbnail, THUMB_SIDE};
use rwclip_common::scoring::summary::rank_top_k;
use rwclip_common::shard_store::part;
use rwclip_inputs::preprocess::thumbnail_rgb;

use super::aggregate::shard_error;
use super::error::ShardError;
use crate::blocking_store::BlockingStore;
use crate::embed::parallel_map;
use crate::error::EngineError;
use crate::image_reader::{ImageReadError, ImageReader};

pub fn contact_sheet(id: &ShardId, s: &ContactSheetSpec, store: &BlockingStore, prefix: &str, progress: &dyn Fn(u64, u64)) -> Result<Vec<String>, ShardError> {
    let run = ShardError::run(id);
    let top = store.block_on(rank_top_k(store.store(), id, &s.shards, s.images)).map_err(|e| shard_error(id, e))?;
    let reader = ImageReader::open(&s.root).map_err(|e| run(e.into()))?;
    // A listed prefix's rows carry `<root>/<key>`; the reader wants the key.
    let root = format!("{}/", s.root.trim_end_matches('/'));
    // A video's frame is not re-read here: its file may be gigabytes.
    let stills: Vec<String> = top.iter().filter(|r| r.at.is_none()).map(|r| r.uri.strip_prefix(&root).unwrap_or(&r.uri).to_string()).collect();
    let mut read = reader
        .read_each(&stills)
        .map_err(|e| match e {
            ImageReadError::Store { source, .. } => run(EngineError::Store(source)),
            other => run(EngineError::Usage(other.to_string())),
        })?
        .into_iter();
    let items: Vec<(&ImageScoreRow, Option<Result<Bytes, ImageReadError>>)> = top.iter().map(|r| (r, r.at.is_none().then(|| read.next().expect("one read per still")))).collect();
    let thumbs = parallel_map(&items, |(row, bytes)| {
        let bytes = bytes.as_ref().ok_or_else(|| "video frame: not drawn".to_string())?.as_ref().map_err(|e| e.to_string())?;
        let t = thumbnail_rgb(bytes, &row.uri, THUMB_SIDE).map_err(|e| e.to_string())?;
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
                Some(at) => format!("{} at {}", r.uri, rwclip_common::scoring::videos::hms(at.pts_s)),
                None => r.uri.clone(),
            };
            SheetImage { rank: i + 1, uri, score: r.score.unwrap_or(f64::NAN), thumb }
        })
        .collect();
    progress(images.len() as u64, images.len() as u64);
    let heading = format!("The {} best-scored images", images.len());
    let figure = draw_sheet(&heading, &s.title, &images).map_err(|problem| ShardError::BadInput { shard: id.clone(), problem: format!("drawing the contact sheet: {problem}") })?;
    let mut keys = Vec::new();
    for (ext, bytes) in [("svg", Bytes::from(figure.svg)), ("png", Bytes::from(figure.png))] {
        let key = format!("{prefix}{}.{ext}", part::CONTACT_SHEET);
        store.put(&key, bytes).map_err(|e| run(e.into()))?;
        keys.push(key);
    }
    Ok(keys)
}
