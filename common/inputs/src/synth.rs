//! Draws small synthetic data sets in the exact MVTec-AD layout
//! ([`SynthSpec`]), for tests and the demo job: procedural textures per
//! category, drawn defects with masks.
//!
//! ```text
//! <cat>/train/good/000.png      <cat>/test/good/000.png
//! <cat>/test/<defect>/000.png   <cat>/ground_truth/<defect>/000_mask.png
//! ```
//! Every second category is written as JPEG (`.jpg`) so both decoders are
//! exercised; masks are always PNG. The same spec gives byte-identical files.

mod defect;
mod layouts;
mod rng;
mod texture;

pub use layouts::{write_sewer_ml, write_visa};

use std::path::Path;

use image::{GrayImage, RgbImage};
use rwclip_job::synth::validate;
pub use rwclip_job::synth::{SynthSpec, SynthSummary};
use rwclip_datasets::DatasetError;

use defect::DefectStyle;
use rng::Rng;
use texture::TextureStyle;

/// Random streams: one per (category, split, image), so changing one count
/// does not change the other images.
const TRAIN: u64 = 1;
const TEST_GOOD: u64 = 2;
const TEST_DEFECT: u64 = 3;

/// Writes a synthetic dataset of `kind`'s layout; `None` for kinds that
/// have no layout of their own to draw (manifests).
pub fn write_kind(kind: rwclip_job::DatasetKind, root: &Path, spec: &SynthSpec) -> Option<Result<SynthSummary, DatasetError>> {
    use rwclip_job::DatasetKind;
    match kind {
        DatasetKind::Mvtec => Some(write(root, spec)),
        DatasetKind::Visa => Some(write_visa(root, spec)),
        DatasetKind::SewerMl => Some(write_sewer_ml(root, spec)),
        DatasetKind::Manifest => None,
    }
}

/// Writes the data set described by `spec` under `root` (created if needed;
/// existing files of the same names are overwritten).
pub fn write(root: &Path, spec: &SynthSpec) -> Result<SynthSummary, DatasetError> {
    validate(spec).map_err(|reason| DatasetError::InvalidSpec { reason })?;
    let mut summary = SynthSummary {
        root: root.to_path_buf(),
        categories: spec.categories.clone(),
        train_images: 0,
        test_good_images: 0,
        test_defective_images: 0,
        masks: 0,
    };
    for (cat_index, category) in spec.categories.iter().enumerate() {
        let style = TextureStyle::for_category(cat_index);
        let base = category_colour(spec.seed, cat_index);
        let extension = if cat_index % 2 == 1 { "jpg" } else { "png" };
        let cat_dir = root.join(category);
        let texture = |split: u64, defect: u64, index: usize| {
            let mut rng = Rng::new(spec.seed, &[cat_index as u64, split, defect, index as u64]);
            let image = texture::render(style, base, spec.image_size, &mut rng);
            (image, rng)
        };

        let train_dir = cat_dir.join("train").join("good");
        for index in 0..spec.train_good {
            let (image, _) = texture(TRAIN, 0, index);
            save_rgb(&image, &train_dir.join(format!("{index:03}.{extension}")))?;
        }
        summary.train_images += spec.train_good;

        let good_dir = cat_dir.join("test").join("good");
        for index in 0..spec.test_good {
            let (image, _) = texture(TEST_GOOD, 0, index);
            save_rgb(&image, &good_dir.join(format!("{index:03}.{extension}")))?;
        }
        summary.test_good_images += spec.test_good;

        for (position, defect) in spec.defect_types.iter().enumerate() {
            let defect_style = DefectStyle::for_name(defect, position);
            let image_dir = cat_dir.join("test").join(defect);
            let mask_dir = cat_dir.join("ground_truth").join(defect);
            for index in 0..spec.test_defective {
                let (mut image, mut rng) = texture(TEST_DEFECT, position as u64, index);
                let mask = defect::draw(defect_style, &mut image, &mut rng);
                save_rgb(&image, &image_dir.join(format!("{index:03}.{extension}")))?;
                save_mask(&mask, &mask_dir.join(format!("{index:03}_mask.png")))?;
            }
            summary.test_defective_images += spec.test_defective;
            summary.masks += spec.test_defective;
        }
    }
    Ok(summary)
}

/// A muted base colour per category, fixed by the seed.
fn category_colour(seed: u64, cat_index: usize) -> [f32; 3] {
    let mut rng = Rng::new(seed, &[cat_index as u64, 0]);
    [rng.range(0.45, 0.95), rng.range(0.45, 0.95), rng.range(0.45, 0.95)]
}

fn create_parent(path: &Path) -> Result<(), DatasetError> {
    match path.parent() {
        Some(dir) => std::fs::create_dir_all(dir).map_err(io_error(dir)),
        None => Ok(()),
    }
}

/// PNG or JPEG by extension (JPEG at quality 90: visible defects, small files).
fn save_rgb(image: &RgbImage, path: &Path) -> Result<(), DatasetError> {
    create_parent(path)?;
    let encode_error = |source| DatasetError::Encode { path: path.to_path_buf(), source: Box::new(source) };
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")) {
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(image)
            .map_err(encode_error)?;
    } else {
        image
            .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
            .map_err(encode_error)?;
    }
    std::fs::write(path, bytes).map_err(io_error(path))
}

fn save_mask(mask: &GrayImage, path: &Path) -> Result<(), DatasetError> {
    create_parent(path)?;
    let mut bytes = Vec::new();
    mask.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|source| DatasetError::Encode { path: path.to_path_buf(), source: Box::new(source) })?;
    std::fs::write(path, bytes).map_err(io_error(path))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io { path: path.to_path_buf(), source }
}
