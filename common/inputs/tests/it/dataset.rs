//! Synthetic MVTec-layout data sets written by `dataset::synth` and read back
//! by `dataset::mvtec`: layout, labels, masks, ordering, errors, determinism.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use rwclip_datasets::mvtec;
use rwclip_inputs::synth::{self, SynthSpec};
use rwclip_datasets::{DatasetError, ImageRecord};
use rwclip_inputs::preprocess::decode_rgb;

fn synth_dataset(spec: &SynthSpec) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    synth::write(dir.path(), spec).unwrap_or_else(|e| panic!("{e}"));
    dir
}

#[test]
fn synth_round_trips_through_the_mvtec_reader() {
    let spec = SynthSpec::default();
    let start = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = synth::write(dir.path(), &spec).unwrap_or_else(|e| panic!("{e}"));
    let elapsed = start.elapsed();
    eprintln!("default synth spec written in {elapsed:?}");
    assert!(elapsed.as_secs_f64() < 2.0, "default spec took {elapsed:?}");
    let root = dir.path();

    let per_category_defective = spec.test_defective * spec.defect_types.len();
    assert_eq!(summary.train_images, spec.train_good * spec.categories.len());
    assert_eq!(summary.test_good_images, spec.test_good * spec.categories.len());
    assert_eq!(summary.test_defective_images, per_category_defective * spec.categories.len());
    assert_eq!(summary.masks, summary.test_defective_images);

    let mut expected_categories = spec.categories.clone();
    expected_categories.sort();
    assert_eq!(mvtec::categories(root).unwrap_or_else(|e| panic!("{e}")), expected_categories);

    let test = mvtec::read_test(root, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(test.len(), summary.test_good_images + summary.test_defective_images);
    let mut per_category: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for record in &test {
        let counts = per_category.entry(record.category.as_str()).or_default();
        if record.label == 0 {
            counts.0 += 1;
            assert_eq!(record.defect, "good", "{record:?}");
            assert!(record.mask.is_none(), "normal image with a mask: {record:?}");
        } else {
            counts.1 += 1;
            assert_eq!(record.label, 1, "{record:?}");
            assert!(spec.defect_types.contains(&record.defect), "{record:?}");
            let mask = record.mask.as_ref().unwrap_or_else(|| panic!("anomaly without mask: {record:?}"));
            assert!(root.join(mask).is_file(), "{mask} missing");
            assert_mask_marks_defect(&root.join(mask));
        }
        assert!(root.join(&record.path).is_file(), "{} missing", record.path);
        assert!(record.path.starts_with(&format!("{}/test/{}/", record.category, record.defect)));
    }
    for category in &spec.categories {
        assert_eq!(per_category[category.as_str()], (spec.test_good, per_category_defective), "{category}");
    }
    assert_sorted(&test);

    // Some images are JPEG, some PNG, and every one decodes at the spec's size.
    let extensions: Vec<&str> = test.iter().filter_map(|r| r.path.rsplit_once('.').map(|(_, e)| e)).collect();
    assert!(extensions.contains(&"jpg") && extensions.contains(&"png"), "{extensions:?}");
    for record in &test {
        let bytes = std::fs::read(root.join(&record.path)).unwrap_or_else(|e| panic!("{}: {e}", record.path));
        let image = decode_rgb(&bytes, &record.path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(image.dimensions(), (spec.image_size, spec.image_size), "{}", record.path);
    }

    for category in &spec.categories {
        let train = mvtec::read_train_good(root, category).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(train.len(), spec.train_good, "{category}");
        assert!(train.iter().all(|r| r.label == 0 && r.defect == "good" && r.mask.is_none()));
        assert!(train.iter().all(|r| r.path.starts_with(&format!("{category}/train/good/"))));
        assert_sorted(&train);
    }

    let only = vec![spec.categories[1].clone()];
    let subset = mvtec::read_test(root, Some(&only)).unwrap_or_else(|e| panic!("{e}"));
    assert!(!subset.is_empty() && subset.iter().all(|r| r.category == only[0]));
}

fn assert_sorted(records: &[ImageRecord]) {
    let keys: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| (r.category.as_str(), r.defect.as_str(), r.path.rsplit('/').next().unwrap_or("")))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "records not sorted by (category, defect, file name)");
}

/// A mask is binary (0/255) and marks some, but not most, of the image.
fn assert_mask_marks_defect(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mask = image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_luma8();
    let marked = mask.pixels().filter(|p| p.0[0] == 255).count();
    assert!(mask.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255), "{}: not binary", path.display());
    let fraction = marked as f64 / mask.len() as f64;
    assert!(fraction > 0.0005 && fraction < 0.2, "{}: {fraction} marked", path.display());
}

#[test]
fn same_spec_writes_byte_identical_files() {
    let spec = SynthSpec { categories: vec!["a".into(), "b".into()], train_good: 2, test_good: 1, test_defective: 1, ..SynthSpec::default() };
    let (first, second) = (synth_dataset(&spec), synth_dataset(&spec));
    let files = |root: &Path| -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read_dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
                    files.insert(rel, std::fs::read(&path).expect("read"));
                }
            }
        }
        files
    };
    let (a, b) = (files(first.path()), files(second.path()));
    assert!(a.len() > 10, "{} files", a.len());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs between two writes");
    }
    // A different seed gives different images.
    let reseeded = synth_dataset(&SynthSpec { seed: 7, ..spec });
    assert!(files(reseeded.path()) != a, "seed has no effect");
}

#[test]
fn missing_root_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no_such_dataset");
    for err in [
        mvtec::categories(&missing).expect_err("missing root"),
        mvtec::read_test(&missing, None).expect_err("missing root"),
        mvtec::read_train_good(&missing, "weave").expect_err("missing root"),
    ] {
        assert!(matches!(err, DatasetError::MissingRoot { .. }), "{err:?}");
        assert!(err.to_string().contains("no_such_dataset"), "{err}");
    }
    let err = mvtec::categories(dir.path()).expect_err("no categories");
    assert!(matches!(err, DatasetError::NoCategories { .. }), "{err:?}");
}

#[test]
fn unknown_category_lists_those_present() {
    let dir = synth_dataset(&SynthSpec { train_good: 1, test_good: 1, test_defective: 1, ..SynthSpec::default() });
    let wanted = vec!["weave".to_string(), "bottle".to_string()];
    let err = mvtec::read_test(dir.path(), Some(&wanted)).expect_err("bottle is not there");
    let message = err.to_string();
    assert!(matches!(err, DatasetError::UnknownCategory { .. }), "{err:?}");
    for name in ["'bottle'", "brushed", "granite", "weave"] {
        assert!(message.contains(name), "{message}");
    }
    let err = mvtec::read_train_good(dir.path(), "bottle").expect_err("bottle is not there");
    assert!(err.to_string().contains("bottle") && err.to_string().contains("granite"), "{err}");
}

#[test]
fn empty_category_is_an_error_naming_it() {
    let dir = synth_dataset(&SynthSpec { train_good: 1, test_good: 1, test_defective: 1, ..SynthSpec::default() });
    std::fs::create_dir_all(dir.path().join("hollow/test/good")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("hollow/train/good")).expect("mkdir");
    std::fs::write(dir.path().join("hollow/test/good/readme.txt"), b"not an image").expect("write");
    let hollow = vec!["hollow".to_string()];
    let err = mvtec::read_test(dir.path(), Some(&hollow)).expect_err("no test images");
    assert!(matches!(err, DatasetError::EmptyCategory { .. }), "{err:?}");
    assert!(err.to_string().contains("hollow"), "{err}");
    let err = mvtec::read_test(dir.path(), None).expect_err("reading all includes the empty one");
    assert!(err.to_string().contains("hollow"), "{err}");
    let err = mvtec::read_train_good(dir.path(), "hollow").expect_err("no train images");
    assert!(matches!(err, DatasetError::EmptyCategory { .. }) && err.to_string().contains("hollow"), "{err}");
}

#[test]
fn invalid_specs_are_rejected_before_writing() {
    let dir = tempfile::tempdir().expect("temp dir");
    for spec in [
        SynthSpec { categories: vec![], ..SynthSpec::default() },
        SynthSpec { image_size: 8, ..SynthSpec::default() },
        SynthSpec { categories: vec!["../escape".into()], ..SynthSpec::default() },
        SynthSpec { defect_types: vec!["good".into()], ..SynthSpec::default() },
    ] {
        let err = synth::write(dir.path(), &spec).expect_err("invalid spec");
        assert!(matches!(err, DatasetError::InvalidSpec { .. }), "{err:?}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("read_dir").count(), 0, "files written for an invalid spec");
}
