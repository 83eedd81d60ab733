//! A trial's anomaly maps on one dataset: every map method under every
//! setup, from the stored window embeddings, one category at a time (a
//! category's windows, maps and masks are all a trial holds), scored by
//! pixel AUROC, AUPRO and PRO-200 per category. The figure trial also keeps
//! pixel ROC points and draws each category's overlay sheet.

use std::collections::{BTreeMap, HashMap};

use rwclip_artifacts::WindowEmbeddingRow;
use rwclip_datasets::ImageRecord;
use rwclip_job::{ObjectSetup, Setup};
use rwclip_job::map_method::MapMethod;
use rwclip_metrics::pixel::{pixel_metrics_and_roc, MaskedMap, PixelMetrics};
use rwclip_plan::{DatasetMaps, ShardId, TrialDataset, TrialSpec};
use rwclip_figures::{heat_overlay_rgb, overlay_sheet, sheet_name, Figure, OverlayCell, OverlayRow, PixelRoc};
use rwclip_store::shard_store::part;
use rwclip_inputs::preprocess::Preprocess;
use rwclip_inputs::tokenizer::ClipTokenizer;
use tch::{Kind, Tensor};

use super::error::ShardError;
use super::read_dependency_part;
use super::windows::f16_tensor;
use crate::blocking_store::BlockingStore;
use crate::clip::ClipModel;
use crate::fnn::Fnn;
use crate::image_reader::ImageReader;
use crate::maps::winclip::{text_prototypes, ReferenceMemory, WinClip};
use crate::maps::windows::WindowSet;
use crate::maps::{embedding_score_maps, view_rgb, window_sets, EncodedImages, MapScores, DEFAULT_SCALES};
use crate::pipeline::guides::{object_name, Guides};
use crate::score::prompt_score;

/// Points kept of each pixel ROC curve: plenty for a 380-pixel panel.
const ROC_POINTS: usize = 256;
/// Text prompts per encoder batch for WinCLIP's prototypes.
const PROMPT_BATCH: usize = 256;

/// What the trial scores its maps with.
pub struct MapScorers<'a> {
    pub model: &'a ClipModel,
    pub tokenizer: &'a ClipTokenizer,
    pub fnn: &'a Fnn,
    pub guides: &'a Guides,
    pub temperature: f64,
    pub object_word: &'a str,
}

/// One dataset's map results.
#[derive(Default)]
pub struct DatasetMapResults {
    /// Per setup label: WinCLIP's image score of every test image, in the
    /// dataset's order (when WinCLIP is a method).
    pub winclip_scores: BTreeMap<String, Vec<f64>>,
    /// Per (setup label, score kind): category → pixel metrics.
    pub pixel: BTreeMap<(String, String), BTreeMap<String, PixelMetrics>>,
    /// The figure trial's: pixel ROC points and overlay sheets.
    pub curves: Vec<PixelRoc>,
    pub sheets: Vec<Figure>,
}

/// An image's stored windows and patch tokens as the map methods take them.
fn encoded_rows(rows: &[&WindowEmbeddingRow], embeddings: Tensor, sets: &[WindowSet], model: &ClipModel) -> Result<EncodedImages, String> {
    let dim = model.cfg.embed_dim;
    let lengths: Vec<i64> = sets.iter().map(WindowSet::len).collect();
    let total: i64 = lengths.iter().sum();
    let windows = rows
        .iter()
        .map(|r| {
            let t = f16_tensor(&r.windows, dim, &format!("windows of {}", r.path))?;
            if t.size()[0] != total {
                return Err(format!("windows of {}: {} windows stored, the scales make {total}", r.path, t.size()[0]));
            }
            Ok(t)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let stacked = Tensor::stack(&windows, 0);
    let windows = stacked.split_with_sizes(lengths.as_slice(), 1);
    let grid = model.cfg.vision.grid_size();
    let width = model.cfg.vision.width;
    let patch_tokens = if rows.iter().all(|r| r.patch_tokens.is_some()) && !rows.is_empty() {
        let tokens = rows
            .iter()
            .map(|r| f16_tensor(r.patch_tokens.as_deref().unwrap_or_default(), width, &format!("patch tokens of {}", r.path)))
            .collect::<Result<Vec<_>, String>>()?;
        Tensor::stack(&tokens, 0)
    } else {
        Tensor::zeros([rows.len() as i64, grid * grid, width], (Kind::Float, tch::Device::Cpu))
    };
    Ok(EncodedImages { embeddings, patch_tokens, windows })
}

/// The maps of every method under every setup of `d`, category by category.
#[allow(clippy::too_many_arguments)]
pub fn dataset_maps(
    id: &ShardId,
    s: &TrialSpec,
    d: &TrialDataset,
    maps: &DatasetMaps,
    records: &[ImageRecord],
    eval_view: &Tensor,
    references: &HashMap<String, Vec<f32>>,
    scorers: &MapScorers<'_>,
    store: &BlockingStore,
    figures: bool,
) -> Result<DatasetMapResults, ShardError> {
    let bad = |problem: String| ShardError::BadInput { shard: id.clone(), problem };
    let model = scorers.model;
    let sets = window_sets(model, &DEFAULT_SCALES);
    let size = model.cfg.vision.image_size;
    let index: HashMap<&str, usize> = records.iter().enumerate().map(|(i, r)| (r.path.as_str(), i)).collect();
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        *expected.entry(r.category.as_str()).or_default() += 1;
    }
    // Few-shot WinCLIP's references, by path (k per category: small).
    let mut reference_rows: HashMap<String, WindowEmbeddingRow> = HashMap::new();
    for dep in &maps.reference_window_shards {
        for r in read_dependency_part::<WindowEmbeddingRow>(store, id, dep, part::WINDOW_EMBEDDINGS)? {
            reference_rows.insert(r.path.clone(), r);
        }
    }
    let mut out = DatasetMapResults::default();
    if s.maps.contains(&MapMethod::WinClip) {
        for setup in &d.setups {
            out.winclip_scores.insert(setup.label(), vec![f64::NAN; records.len()]);
        }
    }
    let mut prototypes: HashMap<String, Tensor> = HashMap::new();
    let reader = if figures { Some(ImageReader::open(&maps.root).map_err(|e| ShardError::run(id)(e.into()))?) } else { None };
    let mut pending: BTreeMap<String, Vec<WindowEmbeddingRow>> = BTreeMap::new();
    for dep in &maps.window_shards {
        for row in read_dependency_part::<WindowEmbeddingRow>(store, id, dep, part::WINDOW_EMBEDDINGS)? {
            let category = row.category.clone();
            let rows = pending.entry(category.clone()).or_default();
            rows.push(row);
            if rows.len() < expected.get(category.as_str()).copied().unwrap_or(0) {
                continue;
            }
            let rows = pending.remove(&category).unwrap_or_default();
            let ctx = CategoryContext { id, s, d, records, index: &index, eval_view, references, reference_rows: &reference_rows, sets: &sets, size, scorers, reader: reader.as_ref() };
            ctx.score_category(&category, &rows, &mut prototypes, &mut out)?;
        }
    }
    if let Some((category, rows)) = pending.into_iter().next() {
        return Err(bad(format!(
            "dataset {:?}: the window shards hold {} images of category {category:?}, the image shards {}",
            d.name,
            rows.len(),
            expected.get(category.as_str()).copied().unwrap_or(0)
        )));
    }
    if let Some((setup, _)) = out.winclip_scores.iter().find(|(_, v)| v.iter().any(|x| x.is_nan())) {
        return Err(bad(format!("dataset {:?}: some test images have no window embeddings ({setup})", d.name)));
    }
    Ok(out)
}

struct CategoryContext<'a> {
    id: &'a ShardId,
    s: &'a TrialSpec,
    d: &'a TrialDataset,
    records: &'a [ImageRecord],
    index: &'a HashMap<&'a str, usize>,
    eval_view: &'a Tensor,
    references: &'a HashMap<String, Vec<f32>>,
    reference_rows: &'a HashMap<String, WindowEmbeddingRow>,
    sets: &'a [WindowSet],
    size: i64,
    scorers: &'a MapScorers<'a>,
    reader: Option<&'a ImageReader>,
}

impl CategoryContext<'_> {
    fn bad(&self, problem: String) -> ShardError {
        ShardError::BadInput { shard: self.id.clone(), problem }
    }

    fn score_category(&self, category: &str, rows: &[WindowEmbeddingRow], prototypes: &mut HashMap<String, Tensor>, out: &mut DatasetMapResults) -> Result<(), ShardError> {
        let (d, model) = (self.d, self.scorers.model);
        let idx: Vec<usize> = rows
            .iter()
            .map(|r| self.index.get(r.path.as_str()).copied().ok_or_else(|| self.bad(format!("dataset {:?}: window shards list {}, which is not a test image", d.name, r.path))))
            .collect::<Result<_, _>>()?;
        let select = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let row_refs: Vec<&WindowEmbeddingRow> = rows.iter().collect();
        let images = encoded_rows(&row_refs, self.eval_view.index_select(0, &select), self.sets, model).map_err(|e| self.bad(e))?;
        let pixels = (self.size * self.size) as usize;
        // A normal image's ground truth is empty; an anomalous one without a
        // mask (Sewer-ML) leaves the category without pixel ground truth.
        // A mask in another geometry is an error naming it, never a
        // category quietly without pixel metrics.
        let masks: Option<Vec<Vec<u8>>> = rows
            .iter()
            .zip(&idx)
            .map(|(r, &i)| match (self.records[i].label, &r.mask) {
                (0, _) => Ok(Some(vec![0u8; pixels])),
                (_, Some(m)) if m.len() == pixels => Ok(Some(m.clone())),
                (_, Some(m)) => Err(self.bad(format!("dataset {:?}: the mask of {} has {} pixels, not the {pixels} of a {}×{} view", d.name, r.path, m.len(), self.size, self.size))),
                (_, None) => Ok(None),
            })
            .collect::<Result<Vec<Option<Vec<u8>>>, ShardError>>()?
            .into_iter()
            .collect();
        for (n, &setup) in d.setups.iter().enumerate() {
            // The object word as the guides were embedded under it (and WinCLIP's).
            let object = match setup.object() {
                ObjectSetup::Unknown => self.scorers.object_word.to_string(),
                ObjectSetup::Known => object_name(category),
            };
            let mut sheet_rows = Vec::new();
            for &method in &self.s.maps {
                let scored = self.method_maps(method, setup, category, &object, &images, prototypes)?;
                let scores = Vec::<f64>::try_from(scored.image_scores.to_kind(Kind::Double)).map_err(|e| ShardError::run(self.id)(e.into()))?;
                if method == MapMethod::WinClip {
                    let all = out.winclip_scores.get_mut(&setup.label()).expect("a score slot per setup");
                    for (&i, &v) in idx.iter().zip(&scores) {
                        all[i] = v;
                    }
                }
                let Some(masks) = &masks else { continue };
                let upsampled = scored.upsampled(self.size).to_kind(Kind::Float).contiguous();
                let flat: Vec<f32> = Vec::try_from(upsampled.view([-1])).map_err(|e: tch::TchError| ShardError::run(self.id)(e.into()))?;
                let masked: Vec<MaskedMap> = masks
                    .iter()
                    .enumerate()
                    .map(|(k, mask)| MaskedMap { height: self.size as usize, width: self.size as usize, map: &flat[k * pixels..(k + 1) * pixels], mask })
                    .collect();
                let figure = self.reader.is_some() && n == 0;
                let (metrics, roc) = pixel_metrics_and_roc(&masked, if figure { ROC_POINTS } else { 0 })
                    .map_err(|e| self.bad(format!("dataset {:?}, category {category:?}, {method} maps: {e}", d.name)))?;
                out.pixel.entry((setup.label(), method.name().to_string())).or_default().insert(category.to_string(), metrics);
                if let (Some(points), Some(auroc)) = (roc, metrics.pixel_auroc) {
                    out.curves.push(PixelRoc { dataset: d.name.clone(), setup: setup_title(setup), category: category.to_string(), method: method.table_label().to_string(), pixel_auroc: auroc, points });
                }
                if figure {
                    sheet_rows.push(self.overlay_row(method, rows, &scores, &flat, masks)?);
                }
            }
            if !sheet_rows.is_empty() {
                let heading = format!("Anomaly maps, {}, {category}, {}", d.name, setup_title(setup));
                let subtitle = "Per method, its highest- and its lowest-scored anomalous test image; ground truth outlined in white";
                let sheet = overlay_sheet(&sheet_name(&d.name, category), &heading, subtitle, &["highest-scored", "lowest-scored"], &sheet_rows)
                    .map_err(|e| self.bad(format!("overlay sheet of {category}: {e}")))?;
                out.sheets.push(sheet);
            }
        }
        Ok(())
    }

    /// One method's scores and patch-grid maps of a category's images.
    fn method_maps(&self, method: MapMethod, setup: Setup, category: &str, object: &str, images: &EncodedImages, prototypes: &mut HashMap<String, Tensor>) -> Result<MapScores, ShardError> {
        let sc = self.scorers;
        let sets = self.sets;
        let clip = || {
            let (normal, anomaly) = sc.guides.pair(object).ok_or_else(|| self.bad(format!("no guide prompts embedded for object {object:?}")))?;
            Ok::<_, ShardError>(embedding_score_maps(images, sets, |e| prompt_score(e, normal, anomaly, sc.temperature)))
        };
        let ours = || embedding_score_maps(images, sets, |e| sc.fnn.score(e));
        Ok(match method {
            MapMethod::Ours => ours(),
            MapMethod::Clip => clip()?,
            MapMethod::ClipPlusOurs => clip()?.plus(&ours()),
            MapMethod::WinClip => {
                if !prototypes.contains_key(object) {
                    let p = text_prototypes(sc.model, sc.tokenizer, object, PROMPT_BATCH).map_err(ShardError::run(self.id))?;
                    prototypes.insert(object.to_string(), p);
                }
                let memory = match setup.shots() {
                    Some(k) => Some(self.reference_memory(k, category)?),
                    None => None,
                };
                WinClip::new(prototypes[object].shallow_clone(), memory).score(images, sets)
            }
        })
    }

    /// WinCLIP's memory of the k references this trial drew for `category`.
    fn reference_memory(&self, k: u32, category: &str) -> Result<ReferenceMemory, ShardError> {
        let d = self.d;
        let draw = d
            .references
            .iter()
            .find(|x| x.shots == k && x.category == category)
            .ok_or_else(|| self.bad(format!("dataset {:?}: no {k}-shot references drawn for category {category:?}", d.name)))?;
        let rows: Vec<&WindowEmbeddingRow> = draw
            .paths
            .iter()
            .map(|p| self.reference_rows.get(p).ok_or_else(|| self.bad(format!("dataset {:?}: reference image {p} has no window embeddings", d.name))))
            .collect::<Result<_, _>>()?;
        if rows.iter().any(|r| r.patch_tokens.is_none()) {
            return Err(self.bad(format!("dataset {:?}: the references of {category:?} were stored without patch tokens", d.name)));
        }
        let embeddings: Vec<Vec<f32>> = draw
            .paths
            .iter()
            .map(|p| self.references.get(p).cloned().ok_or_else(|| self.bad(format!("dataset {:?}: reference image {p} has no embedding", d.name))))
            .collect::<Result<_, _>>()?;
        let dim = self.scorers.model.cfg.embed_dim;
        let encoded = encoded_rows(&rows, crate::embed::tensor_of(&embeddings, dim), self.sets, self.scorers.model).map_err(|e| self.bad(e))?;
        Ok(ReferenceMemory::new(&encoded))
    }

    /// The highest- and the lowest-scored anomalous image with `method`'s map.
    fn overlay_row(&self, method: MapMethod, rows: &[WindowEmbeddingRow], scores: &[f64], maps: &[f32], masks: &[Vec<u8>]) -> Result<OverlayRow, ShardError> {
        let reader = self.reader.expect("only the figure trial draws overlays");
        let pixels = (self.size * self.size) as usize;
        let anomalous: Vec<usize> = (0..rows.len()).filter(|&k| rows[k].label == Some(1)).collect();
        let best = anomalous.iter().copied().max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)));
        let worst = anomalous.iter().copied().min_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
        let preprocess = Preprocess::openai(self.size as u32);
        let mut cells = Vec::new();
        for k in best.into_iter().chain(worst) {
            let path = &rows[k].path;
            let bytes = reader.read_all(std::slice::from_ref(path)).map_err(|e| self.bad(e.to_string()))?;
            let view = preprocess.load_bytes(&bytes[0].1, path).map_err(|e| self.bad(e.to_string()))?;
            let rgb = heat_overlay_rgb(&view_rgb(&view, self.size as usize), self.size as u32, self.size as u32, &maps[k * pixels..(k + 1) * pixels], Some(&masks[k]));
            let name = path.rsplit('/').take(2).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("/");
            cells.push(OverlayCell { side: self.size as u32, rgb, caption: format!("score {:.4}\n{name}", scores[k]) });
        }
        Ok(OverlayRow { label: method.table_label().to_string(), cells })
    }
}

/// A setup as figure titles name it.
fn setup_title(setup: Setup) -> String {
    match setup {
        Setup::Zero(ObjectSetup::Unknown) => "0-shot, object unknown".to_string(),
        Setup::Zero(ObjectSetup::Known) => "0-shot, object known".to_string(),
        Setup::FewShot(k) => format!("{k}-shot"),
    }
}
