//! Window embeddings and WinCLIP maps against their references, on identical
//! random-init weights:
//! - rwclip-tiny window embeddings, patch tokens and embedded tokens against
//!   open_clip 3.3's own modules (tests/reference/windows.py);
//! - WinCLIP on ViT-B-16-plus-240 against anomalib 2.7.0's WinClipModel
//!   (tests/reference/winclip.py): text prototypes, window embeddings, and
//!   zero-shot and 1-shot image scores and maps within 1e-4.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rwclip_engine::clip::{ClipConfig, ClipModel};
use rwclip_engine::maps::winclip::{text_prototypes, ReferenceMemory, WinClip};
use rwclip_engine::maps::{encode_for_maps, window_sets, DEFAULT_SCALES};
use rwclip_inputs::tokenizer::ClipTokenizer;
use tch::{Device, Tensor};

const TOLERANCE: f64 = 1e-4;

fn reference_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("RWCLIP_REFERENCE_DIR")).join(name);
    assert!(dir.join("outputs.safetensors").is_file(), "reference outputs missing in {}: run `make reference`", dir.display());
    dir
}

fn read(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())).into_iter().collect()
}

fn take<'a>(map: &'a HashMap<String, Tensor>, key: &str) -> &'a Tensor {
    map.get(key).unwrap_or_else(|| panic!("reference lacks `{key}`"))
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a - b).abs().max().double_value(&[])
}

fn l2(x: &Tensor) -> Tensor {
    x / x.norm_scalaropt_dim(2, [-1], true)
}

/// Prints and checks one comparison; embeddings are compared after L2
/// normalisation (as they are used), everything else as is.
fn check(what: &str, ours: &Tensor, theirs: &Tensor, normalise: bool) -> f64 {
    let error = if normalise { max_abs(&l2(ours), &l2(theirs)) } else { max_abs(ours, theirs) };
    eprintln!("{what}: max-abs error {error:.3e}");
    assert!(error <= TOLERANCE, "{what}: max-abs error {error:e} > {TOLERANCE:e}");
    error
}

fn load(preset: &str, dir: &Path) -> ClipModel {
    let cfg = ClipConfig::preset(preset).unwrap();
    ClipModel::load(&cfg, Some(&dir.join("weights.safetensors")), Device::Cpu).unwrap()
}

#[test]
fn tiny_window_embeddings_match_open_clip() {
    let dir = reference_dir("windows");
    let model = load("rwclip-tiny", &dir);
    let inputs = read(&dir.join("inputs.safetensors"));
    let outputs = read(&dir.join("outputs.safetensors"));
    let windows = window_sets(&model, &DEFAULT_SCALES);
    assert_eq!(windows.iter().map(|w| w.len()).collect::<Vec<_>>(), vec![9, 4], "4×4 grid: 9 windows of 2×2, 4 of 3×3");
    let pixels = take(&inputs, "pixels");
    let tokens = model.clip.encode_image_tokens(pixels);
    check("tiny embedded tokens", &tokens.embedded, take(&outputs, "embedded"), false);
    check("tiny patch tokens", &tokens.patch_tokens, take(&outputs, "patch_tokens"), false);
    check("tiny image embeddings", &tokens.embeddings, take(&outputs, "image_embeddings"), true);
    let encoded = encode_for_maps(&model, pixels, &windows);
    for (set, ours) in windows.iter().zip(&encoded.windows) {
        check(&format!("tiny windows {0}×{0}", set.scale), ours, take(&outputs, &format!("windows_{}", set.scale)), true);
    }
    // The whole-image embedding of the token pass is encode_image's.
    check("tiny token pass vs encode_image", &encoded.embeddings, &model.clip.encode_image(pixels), true);
    // One image at a time gives what the batch gives.
    let alone = encode_for_maps(&model, &pixels.narrow(0, 1, 1), &windows);
    check("tiny windows 3×3, image alone", &alone.windows[1], &encoded.windows[1].narrow(0, 1, 1), true);
}

#[test]
fn winclip_equals_anomalibs_model_zero_and_one_shot() {
    let dir = reference_dir("winclip");
    let model = load("ViT-B-16-plus-240", &dir);
    let inputs = read(&dir.join("inputs.safetensors"));
    let outputs = read(&dir.join("outputs.safetensors"));
    let object = std::fs::read_to_string(dir.join("object.txt")).unwrap();
    let tokenizer = ClipTokenizer::new().unwrap();

    let prototypes = text_prototypes(&model, &tokenizer, &object, 64).unwrap();
    check("WinCLIP text prototypes", &prototypes, take(&outputs, "text_embeddings"), true);

    let windows = window_sets(&model, &DEFAULT_SCALES);
    let images = take(&inputs, "images");
    let encoded = encode_for_maps(&model, images, &windows);
    check("B-16+ image embeddings", &encoded.embeddings, take(&outputs, "image_embeddings"), true);
    check("B-16+ patch tokens", &encoded.patch_tokens, take(&outputs, "patch_tokens"), false);
    for (set, ours) in windows.iter().zip(&encoded.windows) {
        check(&format!("B-16+ windows {0}×{0}", set.scale), ours, take(&outputs, &format!("windows_{}", set.scale)), true);
    }

    let size = model.cfg.vision.image_size;
    let zero = WinClip::new(prototypes.shallow_clone(), None).score(&encoded, &windows);
    let mut errors = vec![
        check("WinCLIP zero-shot image scores", &zero.image_scores, take(&outputs, "zero_shot_scores"), false),
        check("WinCLIP zero-shot maps", &zero.upsampled(size), take(&outputs, "zero_shot_maps"), false),
    ];
    let references = encode_for_maps(&model, take(&inputs, "references"), &windows);
    let one = WinClip::new(prototypes, Some(ReferenceMemory::new(&references))).score(&encoded, &windows);
    errors.push(check("WinCLIP 1-shot image scores", &one.image_scores, take(&outputs, "one_shot_scores"), false));
    errors.push(check("WinCLIP 1-shot maps", &one.upsampled(size), take(&outputs, "one_shot_maps"), false));
    // A comparison of constants would pass vacuously: the maps must vary.
    let spread = one.upsampled(size).std(true).double_value(&[]);
    assert!(spread > 1e-6, "1-shot maps are flat (std {spread:e})");
    eprintln!("WinCLIP vs anomalib 2.7.0: worst error {:.3e}", errors.iter().cloned().fold(0.0, f64::max));
}
