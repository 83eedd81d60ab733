//! `rwclip maps`: per image an anomaly score and a map at the model's input
//! resolution, by WinCLIP (zero- or k-shot), a detector's FNN (`ours`), its
//! two guide prompts (`clip`) or their sum, into one Parquet file, and with
//! `--png` an overlay per image. An image that cannot be read or decoded is
//! a row with its error, never a failed command.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use rwclip_job::clip_config::ClipConfig;
use rwclip_datasets::is_image_file;
use rwclip_datasets::manifest::read_manifest;
use rwclip_job::detector::{DetectorInfo, ScoreKind};
use rwclip_core::split_file_uri;
use rwclip_job::map_method::MapMethod;
use rwclip_datasets::source::{list as list_dataset_in, DatasetKind, DatasetListing, ListOptions};
use rwclip_datasets::draw_references;
use rwclip_artifacts::maps_table::{GroundTruth, MapOutputRow, MapRowsWriter};
use rwclip_figures::heat_overlay_png;
use rwclip_engine::blocking_store::BlockingStore;
use rwclip_engine::clip::ClipModel;
use rwclip_engine::device::select_device;
use rwclip_engine::embed::{parallel_map, pixel_batch};
use rwclip_engine::progress::bar;
use rwclip_engine::fnn::Fnn;
use rwclip_engine::image_reader::ImageReader;
use rwclip_engine::maps::winclip::{text_prototypes, ReferenceMemory, WinClip};
use rwclip_engine::maps::windows::WindowSet;
use rwclip_engine::maps::{detector_maps, encode_for_maps, view_rgb, window_sets, EncodedImages, MapScores, DEFAULT_SCALES};
use rwclip_engine::pipeline::guides::{object_name, Guides};
use rwclip_engine::shard::weights_digest_of;
use rwclip_inputs::preprocess::Preprocess;
use rwclip_inputs::tokenizer::ClipTokenizer;
use tch::{Kind, Tensor};

use super::ModelArgs;
use crate::error::{usage, EngineError, Result};

#[derive(Debug, Args)]
pub struct MapsArgs {
    /// winclip, ours, clip or clip+ours.
    #[arg(long)]
    pub method: MapMethod,
    #[command(flatten)]
    pub model: ModelArgs,
    /// ours, clip and clip+ours: the detector whose FNN and guide prompts
    /// score the windows (trained with this --model and --weights).
    #[arg(long)]
    pub detector: Option<String>,
    /// winclip: the object word of its prompt ensemble (default: the
    /// detector's, else "object").
    #[arg(long)]
    pub object_word: Option<String>,
    /// winclip k-shot: normal reference images (a folder, s3:// prefix, or a
    /// CSV / Parquet manifest with a `uri` column); absent = zero-shot.
    #[arg(long)]
    pub references: Option<String>,
    /// The images: a folder, s3:// prefix, or a CSV / Parquet manifest with
    /// `uri`; with --dataset, the dataset's root.
    #[arg(long)]
    pub input: String,
    /// The input is a labelled dataset (mvtec, visa, sewer-ml): its test
    /// split is mapped, each row gets `category` and its ground-truth `mask`
    /// (the eval view's geometry), and WinCLIP's object word is each image's
    /// category (unless --object-word): the file is `rwclip metrics --maps`' input.
    #[arg(long)]
    pub dataset: Option<String>,
    /// With --dataset: comma-separated categories (default: all).
    #[arg(long, value_delimiter = ',', requires = "dataset")]
    pub categories: Option<Vec<String>>,
    /// With --dataset, winclip k-shot: k normal training images per
    /// category as references, drawn as a sweep's trial of --seed draws them.
    #[arg(long, requires = "dataset", conflicts_with = "references")]
    pub shots: Option<u32>,
    /// With --shots: the trial seed the references are drawn for.
    #[arg(long, default_value_t = 0, requires = "shots")]
    pub seed: u64,
    /// The Parquet file written: uri, score, height, width, map, error.
    #[arg(long)]
    pub out: String,
    /// Also write an overlay PNG per image (map over the model's view) here.
    #[arg(long)]
    pub png: Option<PathBuf>,
}

/// How the chosen method scores encoded images.
enum Scorer {
    WinClip(WinClip),
    Detector { fnn: Fnn, normal: Tensor, anomaly: Tensor, temperature: f64, kind: ScoreKind },
}

impl Scorer {
    fn score(&self, images: &EncodedImages, windows: &[WindowSet]) -> MapScores {
        match self {
            Scorer::WinClip(w) => w.score(images, windows),
            Scorer::Detector { fnn, normal, anomaly, temperature, kind } => detector_maps(images, windows, fnn, (normal, anomaly), *temperature, *kind),
        }
    }
}

/// The images named by a folder, prefix or manifest: the store root they
/// are read from and their paths below it (or absolute), in order.
fn list_images(input: &str) -> Result<(String, Vec<String>)> {
    let lower = input.to_ascii_lowercase();
    if lower.ends_with(".csv") || lower.ends_with(".parquet") {
        let (store, key) = BlockingStore::open_file(input)?;
        let bytes = store.get(&key)?;
        let rows = read_manifest(input, &bytes)?;
        let (folder, _) = split_file_uri(input);
        return Ok((folder, rows.into_iter().map(|r| r.uri).collect()));
    }
    let store = BlockingStore::open(input)?;
    let mut keys: Vec<String> = store.block_on(store.store().list(""))?.into_iter().filter(|k| is_image_file(k)).collect();
    keys.sort();
    Ok((input.trim_end_matches('/').to_string(), keys))
}

/// One image to map: where its bytes are, and a dataset's ground truth.
struct Item {
    path: String,
    category: Option<String>,
    /// A dataset image's mask path (`None` for a normal image).
    mask: Option<String>,
    label: u8,
}

/// A labelled dataset's test images through the store (the root, items in
/// the dataset's order: by category) and its listing.
fn list_dataset(kind: &str, root: &str, categories: Option<&[String]>) -> Result<(String, Vec<Item>, DatasetListing)> {
    let kind = DatasetKind::parse(kind).ok_or_else(|| usage(format!("--dataset {kind:?}: expected mvtec, visa or sewer-ml")))?;
    let store = BlockingStore::open(root)?;
    let options = ListOptions { split: None, categories, images: None, file: None };
    let listing = store.block_on(list_dataset_in(store.store(), kind, &options))?;
    let items = listing
        .images
        .iter()
        .map(|r| Item { path: r.path.clone(), category: Some(r.category.clone()), mask: r.mask.clone(), label: r.label })
        .collect();
    Ok((root.trim_end_matches('/').to_string(), items, listing))
}

/// One batch's images as model input; per image its pixels or its error.
fn read_batch(reader: &ImageReader, preprocess: &Preprocess, paths: &[String]) -> Result<Vec<std::result::Result<Vec<f32>, String>>> {
    let bytes = reader.read_each(paths).map_err(EngineError::from)?;
    let read: Vec<(&String, std::result::Result<bytes::Bytes, String>)> = paths.iter().zip(bytes.into_iter().map(|b| b.map_err(|e| e.to_string()))).collect();
    Ok(parallel_map(&read, |(path, b)| b.as_ref().map_err(Clone::clone).and_then(|b| preprocess.load_bytes(b, path).map_err(|e| e.to_string()))))
}

/// Normal reference images, encoded for WinCLIP's memory; every one must
/// be readable (a bad reference is an error naming it).
fn encode_references(model: &ClipModel, windows: &[WindowSet], reader: &ImageReader, preprocess: &Preprocess, paths: &[String]) -> Result<EncodedImages> {
    let pixels = read_batch(reader, preprocess, paths)?
        .into_iter()
        .zip(paths)
        .map(|(p, path)| p.map_err(|e| usage(format!("reference {path}: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(encode_paths(model, windows, &pixels.iter().collect::<Vec<_>>()))
}

/// A detector's FNN and guide prompts as a scorer of `method`.
fn detector_scorer(uri: &str, a: &MapsArgs, model: &ClipModel, tokenizer: &ClipTokenizer) -> Result<Scorer> {
    let weights = a.model.weights.as_ref().map(|p| p.display().to_string());
    let (info, fnn) = load_detector(uri, &model.cfg, weights.as_deref(), model.vs.device())?;
    let object = a.object_word.clone().unwrap_or_else(|| info.object_word.clone());
    let guides = Guides::embed(model, tokenizer, &info.normal_word, &info.anomaly_word, std::slice::from_ref(&object))?;
    let (normal, anomaly) = guides.pair(&object).expect("the object word was embedded");
    let kind = match a.method {
        MapMethod::Ours => ScoreKind::Fnn,
        MapMethod::Clip => ScoreKind::Pr,
        _ => ScoreKind::PrFnn,
    };
    Ok(Scorer::Detector { fnn, normal: normal.shallow_clone(), anomaly: anomaly.shallow_clone(), temperature: info.temperature, kind })
}

/// Each item's ground-truth mask in the eval view's geometry: `None` for a
/// normal image (an empty mask) or an unlabelled one, an error for a mask
/// that cannot be read.
fn read_masks(reader: &ImageReader, preprocess: &Preprocess, items: &[Item]) -> Result<Vec<std::result::Result<Option<Vec<u8>>, String>>> {
    let side = (preprocess.image_size * preprocess.image_size) as usize;
    let wanted: Vec<String> = items.iter().filter_map(|i| i.mask.clone()).collect();
    let mut read = reader.read_each(&wanted).map_err(EngineError::from)?.into_iter();
    Ok(items
        .iter()
        .map(|item| match (&item.category, &item.mask) {
            (None, _) => Ok(None),
            (Some(_), Some(mask)) => {
                let bytes = read.next().expect("one read per mask").map_err(|e| format!("mask {mask}: {e}"))?;
                preprocess.load_mask_bytes(&bytes, mask).map(Some).map_err(|e| format!("mask {mask}: {e}"))
            }
            (Some(_), None) if item.label == 0 => Ok(Some(vec![0; side])),
            // An anomalous image without a mask (Sewer-ML): no pixel truth.
            (Some(_), None) => Ok(None),
        })
        .collect())
}

fn encode_paths(model: &ClipModel, windows: &[WindowSet], pixels: &[&Vec<f32>]) -> EncodedImages {
    let flat: Vec<f32> = pixels.iter().flat_map(|p| p.iter().copied()).collect();
    encode_for_maps(model, &pixel_batch(&flat, pixels.len(), model.cfg.vision.image_size as u32), windows)
}

fn load_detector(uri: &str, cfg: &ClipConfig, weights: Option<&str>, device: tch::Device) -> Result<(DetectorInfo, Fnn)> {
    let (store, key) = BlockingStore::open_file(uri)?;
    let bytes = store.get(&key)?;
    let info = Fnn::detector_info(&bytes)?.ok_or_else(|| usage(format!("{uri} is an FNN checkpoint without detector metadata")))?;
    let digest = weights_digest_of(weights)?;
    info.check_model(uri, &cfg.name, &digest, weights.unwrap_or("random init")).map_err(|e| usage(e.to_string()))?;
    Ok((info, Fnn::from_safetensors(&bytes, device)?))
}

fn png_name(index: usize, uri: &str) -> String {
    let without_extension = uri.rsplit_once('.').filter(|(_, ext)| !ext.contains('/')).map_or(uri, |(stem, _)| stem);
    let stem: String = without_extension.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    let stem = stem.trim_start_matches('_');
    let tail = &stem[stem.len().saturating_sub(80)..];
    format!("{index:05}-{tail}.png")
}

pub fn run(a: MapsArgs) -> Result<()> {
    let cfg = ClipConfig::preset(&a.model.model).map_err(|e| EngineError::Usage(e.to_string()))?;
    if a.model.batch_size == 0 {
        return Err(usage("--batch-size must be at least 1"));
    }
    match (a.method.needs_detector(), &a.detector) {
        (true, None) => return Err(usage(format!("--method {} scores with a detector's FNN: give --detector", a.method))),
        (false, Some(_)) => return Err(usage("--method winclip uses no detector; drop --detector")),
        _ => {}
    }
    if a.method != MapMethod::WinClip && (a.references.is_some() || a.shots.is_some()) {
        return Err(usage("--references and --shots are WinCLIP's few-shot memory: only --method winclip takes them"));
    }
    let device = select_device(&a.model.device)?;
    if a.model.weights.is_none() {
        eprintln!("rwclip: WARNING: no --weights given: {} is RANDOMLY INITIALISED (maps carry no meaning)", cfg.name);
    }
    let (out_store, out_key) = BlockingStore::open_file(&a.out)?;
    let model = ClipModel::load(&cfg, a.model.weights.as_deref(), device)?;
    let tokenizer = ClipTokenizer::new()?;
    let windows = window_sets(&model, &DEFAULT_SCALES);
    let size = cfg.vision.image_size as u32;
    let preprocess = Preprocess::openai(size);

    let references = match &a.references {
        None => None,
        Some(refs) => {
            let (root, paths) = list_images(refs)?;
            if paths.is_empty() {
                return Err(usage(format!("--references {refs} holds no images")));
            }
            Some(encode_references(&model, &windows, &ImageReader::open(&root)?, &preprocess, &paths)?)
        }
    };
    let (root, items, listing) = match &a.dataset {
        Some(kind) => {
            let (root, items, listing) = list_dataset(kind, &a.input, a.categories.as_deref())?;
            (root, items, Some(listing))
        }
        None => {
            let (root, paths) = list_images(&a.input)?;
            (root, paths.into_iter().map(|path| Item { path, category: None, mask: None, label: 0 }).collect(), None)
        }
    };
    if items.is_empty() {
        return Err(usage(format!("--input {} holds no images", a.input)));
    }
    if let Some(dir) = &a.png {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir.display(), e))?;
    }
    let reader = ImageReader::open(&root)?;
    // WinCLIP's memory: k-shot on a dataset, each category's references
    // drawn as a trial draws them; else the --references, if any.
    let winclip_memory = |category: Option<&str>| -> Result<Option<ReferenceMemory>> {
        let (Some(k), Some(listing), Some(category)) = (a.shots, &listing, category) else {
            return Ok(references.as_ref().map(ReferenceMemory::new));
        };
        let chosen = draw_references(&listing.references, a.seed, listing.kind.display_name(), category, k)
            .map_err(|available| usage(format!("--shots {k}: category {category} of {} has {available} normal training images", a.input)))?;
        let paths: Vec<String> = chosen.iter().map(|r| r.path.clone()).collect();
        Ok(Some(ReferenceMemory::new(&encode_references(&model, &windows, &reader, &preprocess, &paths)?)))
    };
    // What a batch's scorer depends on: WinCLIP's object word (given, else
    // a dataset image's category, else "object") and, k-shot on a dataset,
    // the category its references come from. A detector scores every batch alike.
    let scorer_key = |category: Option<&str>| -> (String, Option<String>) {
        if a.detector.is_some() {
            return (String::new(), None);
        }
        let object = a.object_word.clone().or_else(|| category.map(object_name)).unwrap_or_else(|| "object".to_string());
        (object, category.filter(|_| a.shots.is_some()).map(str::to_string))
    };
    let mut scorers: BTreeMap<(String, Option<String>), Scorer> = BTreeMap::new();
    // Each batch's maps go out as a row group as soon as they are made
    // (into a local file, uploaded at the end): memory holds one batch.
    let staged = tempfile::NamedTempFile::new().map_err(|e| EngineError::io("a temporary file for the maps", e))?;
    let labelled = items.iter().any(|i| i.category.is_some());
    let encoding = |e: String| usage(format!("encoding {}: {e}", a.out));
    let mut table = MapRowsWriter::new(std::io::BufWriter::new(staged.reopen().map_err(|e| EngineError::io(staged.path().display(), e))?), labelled).map_err(|e| encoding(e.to_string()))?;
    let (mut written, mut failed) = (0usize, 0usize);
    let progress = bar(items.len() as u64, "maps");
    // Batches never mix categories: WinCLIP's prompts name the category.
    let mut batches: Vec<&[Item]> = Vec::new();
    for group in items.chunk_by(|x, y| x.category == y.category) {
        batches.extend(group.chunks(a.model.batch_size));
    }
    for chunk in batches {
        let category = chunk[0].category.as_deref();
        let key = scorer_key(category);
        if !scorers.contains_key(&key) {
            let scorer = match &a.detector {
                Some(uri) => detector_scorer(uri, &a, &model, &tokenizer)?,
                None => Scorer::WinClip(WinClip::new(text_prototypes(&model, &tokenizer, &key.0, a.model.batch_size)?, winclip_memory(category)?)),
            };
            scorers.insert(key.clone(), scorer);
        }
        let scorer = &scorers[&key];
        let paths: Vec<String> = chunk.iter().map(|i| i.path.clone()).collect();
        let pixels = read_batch(&reader, &preprocess, &paths)?;
        let ok: Vec<&Vec<f32>> = pixels.iter().filter_map(|p| p.as_ref().ok()).collect();
        let (scores, maps) = if ok.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let encoded = encode_paths(&model, &windows, &ok);
            let scored = scorer.score(&encoded, &windows);
            let scores = Vec::<f64>::try_from(scored.image_scores.to_kind(Kind::Double).to_device(tch::Device::Cpu)).expect("scores");
            let maps = scored.upsampled(size as i64).to_kind(Kind::Float).to_device(tch::Device::Cpu);
            let maps: Vec<Vec<f32>> = (0..ok.len() as i64).map(|i| Vec::<f32>::try_from(maps.get(i).flatten(0, 1)).expect("map")).collect();
            (scores, maps)
        };
        let masks = read_masks(&reader, &preprocess, chunk)?;
        let mut next = scores.into_iter().zip(maps);
        let mut rows = Vec::with_capacity(chunk.len());
        for ((item, p), mask) in chunk.iter().zip(&pixels).zip(masks) {
            let index = written + rows.len();
            let path = &item.path;
            let uri = if path.contains("://") || path.starts_with('/') { path.clone() } else { format!("{root}/{path}") };
            let truth = item.category.clone().map(|category| GroundTruth { category, mask: mask.as_ref().ok().cloned().flatten() });
            let row = match (p, mask) {
                (Ok(view), Ok(mask)) => {
                    let (score, map) = next.next().expect("one result per decoded image");
                    if let Some(dir) = &a.png {
                        let png = heat_overlay_png(&view_rgb(view, size as usize), size, size, &map, mask.as_deref())
                            .map_err(|e| usage(format!("overlay of {uri}: {e}")))?;
                        let file = dir.join(png_name(index, path));
                        std::fs::write(&file, png).map_err(|e| EngineError::io(file.display(), e))?;
                    }
                    MapOutputRow { uri, score: Some(score), height: size, width: size, map: Some(map), error: None, truth }
                }
                (Ok(_), Err(why)) => {
                    next.next();
                    MapOutputRow { uri, score: None, height: size, width: size, map: None, error: Some(why), truth }
                }
                (Err(why), _) => MapOutputRow { uri, score: None, height: size, width: size, map: None, error: Some(why.clone()), truth },
            };
            rows.push(row);
        }
        table.write(&rows).map_err(|e| encoding(e.to_string()))?;
        written += rows.len();
        failed += rows.iter().filter(|r| r.error.is_some()).count();
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let mut file = table.finish().map_err(|e| encoding(e.to_string()))?;
    std::io::Write::flush(&mut file).map_err(|e| EngineError::io(staged.path().display(), e))?;
    drop(file);
    out_store.put_file(&out_key, staged.path())?;
    eprintln!("rwclip: wrote {written} {} maps ({failed} images could not be read) to {}", a.method, out_store.describe(&out_key));
    Ok(())
}
