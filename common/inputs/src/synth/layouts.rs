//! The VisA and Sewer-ML layouts, drawn with the same textures and defects
//! as the MVTec-AD one (`super::write`), so every reader is exercised on the
//! exact folder names, CSV headers and file extensions it meets in the real
//! datasets.

use std::fmt::Write as _;
use std::path::Path;

use rwclip_job::synth::{validate, SynthSpec, SynthSummary};
use rwclip_datasets::{sewer_ml, visa, DatasetError};

use super::defect::{self, DefectStyle};
use super::rng::Rng;
use super::texture::{self, TextureStyle};
use super::{category_colour, io_error, save_mask, save_rgb, TEST_DEFECT, TEST_GOOD, TRAIN};

fn empty_summary(root: &Path, spec: &SynthSpec) -> SynthSummary {
    SynthSummary { root: root.to_path_buf(), categories: spec.categories.clone(), train_images: 0, test_good_images: 0, test_defective_images: 0, masks: 0 }
}

fn write_file(path: &Path, text: &str) -> Result<(), DatasetError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    std::fs::write(path, text).map_err(io_error(path))
}

/// VisA: `<object>/Data/Images/{Normal,Anomaly}/*.JPG` (JPEG), masks at
/// `<object>/Data/Masks/Anomaly/*.png`, and `split_csv/1cls.csv`; train rows
/// are the normal training images.
pub fn write_visa(root: &Path, spec: &SynthSpec) -> Result<SynthSummary, DatasetError> {
    validate(spec).map_err(|reason| DatasetError::InvalidSpec { reason })?;
    let mut summary = empty_summary(root, spec);
    let mut csv = visa::COLUMNS.join(",") + "\n";
    for (cat_index, object) in spec.categories.iter().enumerate() {
        let style = TextureStyle::for_category(cat_index);
        let base = category_colour(spec.seed, cat_index);
        let texture = |split: u64, defect: u64, index: usize| {
            let mut rng = Rng::new(spec.seed, &[cat_index as u64, split, defect, index as u64]);
            (texture::render(style, base, spec.image_size, &mut rng), rng)
        };
        let normals = (0..spec.train_good).map(|i| ("train", TRAIN, i)).chain((0..spec.test_good).map(|i| ("test", TEST_GOOD, i)));
        for (n, (split, stream, index)) in normals.enumerate() {
            let (image, _) = texture(stream, 0, index);
            let key = format!("{object}/Data/Images/Normal/{n:04}.JPG");
            save_rgb(&image, &root.join(&key))?;
            let _ = writeln!(csv, "{object},{split},normal,{key},");
        }
        summary.train_images += spec.train_good;
        summary.test_good_images += spec.test_good;
        let mut n = 0;
        for (position, defect_name) in spec.defect_types.iter().enumerate() {
            let style = DefectStyle::for_name(defect_name, position);
            for index in 0..spec.test_defective {
                let (mut image, mut rng) = texture(TEST_DEFECT, position as u64, index);
                let mask = defect::draw(style, &mut image, &mut rng);
                let key = format!("{object}/Data/Images/Anomaly/{n:03}.JPG");
                let mask_key = format!("{object}/Data/Masks/Anomaly/{n:03}.png");
                save_rgb(&image, &root.join(&key))?;
                save_mask(&mask, &root.join(&mask_key))?;
                let _ = writeln!(csv, "{object},test,anomaly,{key},{mask_key}");
                n += 1;
            }
        }
        summary.test_defective_images += n;
        summary.masks += n;
    }
    write_file(&root.join(visa::SPLIT_CSV), &csv)?;
    Ok(summary)
}

/// How many folders Sewer-ML's images are spread over (its archives extract
/// into several).
const SEWER_FOLDERS: usize = 3;

/// Sewer-ML: PNG frames spread over `images/part-<k>/`, annotated in
/// `SewerML_Train.csv` (train normals) and `SewerML_Val.csv` (the evaluated
/// split: normals and defects), every column of the real files. The first
/// category's textures are the pipes'; other categories are ignored.
pub fn write_sewer_ml(root: &Path, spec: &SynthSpec) -> Result<SynthSummary, DatasetError> {
    validate(spec).map_err(|reason| DatasetError::InvalidSpec { reason })?;
    let mut summary = empty_summary(root, spec);
    summary.categories = vec![sewer_ml::CATEGORY.to_string()];
    let style = TextureStyle::for_category(0);
    let base = category_colour(spec.seed, 0);
    let header = sewer_ml::COLUMNS.join(",") + "\n";
    let (mut train, mut val) = (header.clone(), header);
    let mut frame = 0usize;
    let mut emit = |csv: &mut String, image: &image::RgbImage, code: Option<usize>| -> Result<(), DatasetError> {
        let name = format!("{frame:08}.png");
        save_rgb(image, &root.join(format!("images/part-{}/{name}", frame % SEWER_FOLDERS)))?;
        // Columns: Filename, WaterLevel, VA, the 17 defect codes, ND, Defect.
        let mut codes = [0u8; 17];
        if let Some(code) = code {
            codes[code % 17] = 1;
        }
        let codes: Vec<String> = codes.iter().map(u8::to_string).collect();
        let defect = u8::from(code.is_some());
        let _ = writeln!(csv, "{name},{},0,{},{},{defect}", (frame * 5) % 100, codes.join(","), 1 - defect);
        frame += 1;
        Ok(())
    };
    let texture = |split: u64, defect: u64, index: usize| {
        let mut rng = Rng::new(spec.seed, &[0, split, defect, index as u64]);
        (texture::render(style, base, spec.image_size, &mut rng), rng)
    };
    for index in 0..spec.train_good {
        emit(&mut train, &texture(TRAIN, 0, index).0, None)?;
    }
    for index in 0..spec.test_good {
        emit(&mut val, &texture(TEST_GOOD, 0, index).0, None)?;
    }
    for (position, defect_name) in spec.defect_types.iter().enumerate() {
        let style = DefectStyle::for_name(defect_name, position);
        for index in 0..spec.test_defective {
            let (mut image, mut rng) = texture(TEST_DEFECT, position as u64, index);
            defect::draw(style, &mut image, &mut rng);
            emit(&mut val, &image, Some(position))?;
            summary.test_defective_images += 1;
        }
    }
    summary.train_images = spec.train_good;
    summary.test_good_images = spec.test_good;
    write_file(&root.join(sewer_ml::split_csv("train").expect("a known split")), &train)?;
    write_file(&root.join(sewer_ml::split_csv("val").expect("a known split")), &val)?;
    Ok(summary)
}
