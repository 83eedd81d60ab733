//! A detector applied to batches of preprocessed views: the one scoring
//! step stills and video frames share.

use rwclip_artifacts::{FrameAt, ImageScoreRow, QuantisedMap};
use rwclip_datasets::ImageRecord;
use rwclip_job::detector::DetectorInfo;
use rwclip_job::ObjectSetup;
use rwclip_plan::ShardId;

use super::error::ShardError;
use crate::clip::ClipModel;
use crate::embed::{encode_pixels, pixel_batch};
use crate::fnn::Fnn;
use crate::maps::{detector_maps, encode_for_maps, WindowSet};
use crate::pipeline::guides::Guides;

/// The scores of one image or frame.
pub(super) struct Scored {
    s_fnn: f64,
    s_pr: f64,
    score: f64,
    map: Option<QuantisedMap>,
}

impl Scored {
    pub(super) fn into_row(self, uri: &str, at: Option<FrameAt>) -> ImageScoreRow {
        ImageScoreRow { uri: uri.to_string(), score: Some(self.score), s_fnn: Some(self.s_fnn), s_pr: Some(self.s_pr), error: None, map: self.map, at }
    }
}

/// The detector applied to batches of preprocessed views, stills and
/// frames alike.
pub(super) struct BatchScorer<'a> {
    pub(super) id: &'a ShardId,
    pub(super) model: &'a ClipModel,
    pub(super) fnn: &'a Fnn,
    pub(super) guides: &'a Guides,
    pub(super) guide_pair: (&'a tch::Tensor, &'a tch::Tensor),
    pub(super) info: &'a DetectorInfo,
    pub(super) windows: Option<&'a [WindowSet]>,
    pub(super) views: usize,
    pub(super) size: u32,
}

impl BatchScorer<'_> {
    pub(super) fn shard(&self) -> &ShardId {
        self.id
    }

    /// `items[i][v]` is view `v` of item `i`; scores are the mean over views.
    pub(super) fn score(&self, items: &[&Vec<Vec<f32>>]) -> Result<Vec<Scored>, ShardError> {
        let run = ShardError::run(self.id);
        let n = items.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut s_fnn = vec![0.0; n];
        let mut s_pr = vec![0.0; n];
        let mut maps: Vec<QuantisedMap> = Vec::new();
        let records: Vec<ImageRecord> = (0..n).map(|_| ImageRecord { path: String::new(), category: String::new(), label: 0, defect: String::new(), mask: None }).collect();
        for v in 0..self.views {
            let pixels: Vec<f32> = items.iter().flat_map(|item| item[v].iter().copied()).collect();
            // Maps come from the eval view (the first): one pass gives its
            // embeddings and the tokens its windows are cut from.
            let emb = match self.windows {
                Some(windows) if v == 0 => {
                    let encoded = encode_for_maps(self.model, &pixel_batch(&pixels, n, self.size), windows);
                    let scored = detector_maps(&encoded, windows, self.fnn, self.guide_pair, self.info.temperature, self.info.score);
                    let grids = scored.maps.to_kind(tch::Kind::Float).to_device(tch::Device::Cpu).flatten(1, 2);
                    maps = (0..n as i64)
                        .map(|k| Vec::<f32>::try_from(grids.get(k)).map(|m| QuantisedMap::quantise(&m)).map_err(|e| run(e.into())))
                        .collect::<Result<_, _>>()?;
                    encoded.embeddings.to_device(tch::Device::Cpu)
                }
                _ => encode_pixels(self.model, &pixels, n, self.size),
            };
            let f = Vec::<f64>::try_from(self.fnn.score(&emb).to_kind(tch::Kind::Double)).map_err(|e| run(e.into()))?;
            let p = self.guides.prompt_scores(ObjectSetup::Unknown, &self.info.object_word, &records, &emb, self.info.temperature);
            for k in 0..n {
                s_fnn[k] += f[k] / self.views as f64;
                s_pr[k] += p[k] / self.views as f64;
            }
        }
        let mut maps = maps.into_iter();
        Ok((0..n).map(|k| Scored { s_fnn: s_fnn[k], s_pr: s_pr[k], score: self.info.score.combine(s_pr[k], s_fnn[k]), map: maps.next() }).collect())
    }
}

