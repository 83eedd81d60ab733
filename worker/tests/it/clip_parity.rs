//! CLIP embeddings versus open_clip (tests/reference/clip_tiny.py and
//! clip_b16plus.py): same weights, same tokens and pixels, embeddings within
//! 1e-4 max-abs after L2 normalisation. Also checks that
//! tools/convert_openclip.py turns open_clip training checkpoints into weights
//! that reproduce the reference.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rwclip_job::clip_config::PRESET_NAMES;
use rwclip_engine::clip::{ClipConfig, ClipModel};
use serde_json::Value;
use tch::{Device, Tensor};

const TOLERANCE: f64 = 1e-4;

fn reference_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("RWCLIP_REFERENCE_DIR")).join(name);
    assert!(
        dir.join("outputs.safetensors").is_file(),
        "reference outputs missing in {}: run `make reference`",
        dir.display()
    );
    dir
}

fn read_tensors(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .into_iter()
        .collect()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

fn l2_normalised(x: &Tensor) -> Tensor {
    x / x.norm_scalaropt_dim(2, [-1], true)
}

/// Asserts parity of `ours` with open_clip's `expected`; prints both errors.
fn assert_parity(what: &str, ours: &Tensor, expected: &Tensor) {
    let raw = max_abs(ours, expected);
    let normalised = max_abs(&l2_normalised(ours), &l2_normalised(expected));
    eprintln!("{what}: max-abs error {normalised:.3e} normalised, {raw:.3e} unnormalised");
    assert!(
        normalised <= TOLERANCE,
        "{what}: normalised max-abs error {normalised:e} > {TOLERANCE:e}"
    );
}

struct Reference {
    tokens: Tensor,
    pixels: Tensor,
    text_embeddings: Tensor,
    image_embeddings: Tensor,
}

fn reference(dir: &Path) -> Reference {
    let mut inputs = read_tensors(&dir.join("inputs.safetensors"));
    let mut outputs = read_tensors(&dir.join("outputs.safetensors"));
    let take = |map: &mut HashMap<String, Tensor>, key: &str| {
        map.remove(key)
            .unwrap_or_else(|| panic!("{} lacks `{key}`", dir.display()))
    };
    Reference {
        tokens: take(&mut inputs, "tokens"),
        pixels: take(&mut inputs, "pixels"),
        text_embeddings: take(&mut outputs, "text_embeddings"),
        image_embeddings: take(&mut outputs, "image_embeddings"),
    }
}

fn load(preset: &str, weights: &Path) -> ClipModel {
    let cfg = ClipConfig::preset(preset).unwrap();
    ClipModel::load(&cfg, Some(weights), Device::Cpu).unwrap()
}

#[test]
fn tiny_text_and_image_embeddings_match_open_clip() {
    let dir = reference_dir("clip_tiny");
    let reference = reference(&dir);
    let model = load("rwclip-tiny", &dir.join("weights.safetensors"));

    let text = model.clip.encode_text(&reference.tokens);
    assert_parity("rwclip-tiny text", &text, &reference.text_embeddings);
    let image = model.clip.encode_image(&reference.pixels);
    assert_parity("rwclip-tiny image", &image, &reference.image_embeddings);
}

#[test]
fn tiny_text_embeddings_do_not_depend_on_batch_companions() {
    // encode_text skips positions after the batch's last end-of-text token;
    // a batch without the over-long prompt runs far shorter sequences.
    let dir = reference_dir("clip_tiny");
    let reference = reference(&dir);
    let model = load("rwclip-tiny", &dir.join("weights.safetensors"));

    let end_positions = reference.tokens.argmax(-1, false);
    let short: Vec<i64> = (0..end_positions.size()[0])
        .filter(|&i| end_positions.int64_value(&[i]) < 20)
        .collect();
    assert!(
        short.len() >= 8,
        "reference should hold several short prompts"
    );
    let rows = Tensor::from_slice(&short);
    let text = model
        .clip
        .encode_text(&reference.tokens.index_select(0, &rows));
    let expected = reference.text_embeddings.index_select(0, &rows);
    assert_parity("rwclip-tiny text, short-prompt batch", &text, &expected);

    let alone = model.clip.encode_text(&reference.tokens.narrow(0, 0, 1));
    assert_parity(
        "rwclip-tiny text, batch of one",
        &alone,
        &reference.text_embeddings.narrow(0, 0, 1),
    );
}

#[test]
fn length_sorted_windowed_text_batches_match_open_clip() {
    // The sweep's text path: prompts ordered by token count within windows,
    // batches cut from that order, rows scattered back to prompt order.
    let dir = reference_dir("clip_tiny");
    let reference = reference(&dir);
    let model = load("rwclip-tiny", &dir.join("weights.safetensors"));
    let prompts: Vec<String> = serde_json::from_str(&std::fs::read_to_string(dir.join("prompts.json")).unwrap()).unwrap();
    let tokenizer = rwclip_inputs::tokenizer::ClipTokenizer::new().unwrap();
    for (first, batch, window) in [(0, 3, 8), (5, 2, 16), (0, 4, 0)] {
        let text = rwclip_engine::embed::embed_prompt_range(&model, &tokenizer, &prompts, first, batch, window).unwrap();
        assert_parity(&format!("rwclip-tiny text, first {first} batch {batch} window {window}"), &text, &reference.text_embeddings);
    }
}

/// Row-wise cosine similarity of two [N, D] tensors, the smallest.
fn min_cosine(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_kind(tch::Kind::Double);
    let b = b.to_kind(tch::Kind::Double);
    let cos = (&a * &b).sum_dim_intlist(-1, false, tch::Kind::Double) / (a.norm_scalaropt_dim(2, [-1], false) * b.norm_scalaropt_dim(2, [-1], false));
    cos.min().double_value(&[])
}

#[test]
fn bf16_and_fp16_embeddings_stay_within_cosine_0_999_of_fp32_on_cpu() {
    use rwclip_job::Precision;
    for (preset, dir) in [("rwclip-tiny", "clip_tiny"), ("ViT-B-16-plus-240", "clip_b16plus")] {
        let dir = reference_dir(dir);
        let reference = reference(&dir);
        let fp32 = load(preset, &dir.join("weights.safetensors"));
        let text32 = fp32.clip.encode_text(&reference.tokens);
        let image32 = fp32.clip.encode_image(&reference.pixels);
        for precision in [Precision::Bf16, Precision::Fp16] {
            let low = load(preset, &dir.join("weights.safetensors")).with_precision(precision);
            let text = low.clip.encode_text(&reference.tokens);
            let image = low.clip.encode_image(&reference.pixels);
            assert_eq!((text.kind(), image.kind()), (tch::Kind::Float, tch::Kind::Float), "embeddings leave as f32");
            let (t, i) = (min_cosine(&text, &text32), min_cosine(&image, &image32));
            eprintln!("{preset} {}: min cosine to fp32 text {t:.6}, image {i:.6}", precision.label());
            assert!(t >= 0.999 && i >= 0.999, "{preset} {}: text {t}, image {i}", precision.label());
            // Not fp32 in disguise: the low precision changed the bits.
            assert!(!text.equal(&text32), "{preset} {} text equals fp32 exactly", precision.label());
        }
    }
}

#[test]
fn tiny_forward_is_deterministic() {
    let dir = reference_dir("clip_tiny");
    let reference = reference(&dir);
    let model = load("rwclip-tiny", &dir.join("weights.safetensors"));
    let first = model.clip.encode_image(&reference.pixels);
    let second = model.clip.encode_image(&reference.pixels);
    assert!(first.equal(&second), "two runs on the same pixels differ");
    let first = model.clip.encode_text(&reference.tokens);
    let second = model.clip.encode_text(&reference.tokens);
    assert!(first.equal(&second), "two runs on the same tokens differ");
}

#[test]
fn parity_check_notices_the_wrong_activation() {
    // Control: the same weights run with QuickGELU must miss the tolerance,
    // or the parity tests above could not tell the activations apart.
    let dir = reference_dir("clip_tiny");
    let reference = reference(&dir);
    let cfg = ClipConfig {
        quick_gelu: true,
        ..ClipConfig::preset("rwclip-tiny").unwrap()
    };
    let model = ClipModel::load(&cfg, Some(&dir.join("weights.safetensors")), Device::Cpu).unwrap();
    let text = model.clip.encode_text(&reference.tokens);
    let error = max_abs(
        &l2_normalised(&text),
        &l2_normalised(&reference.text_embeddings),
    );
    eprintln!(
        "rwclip-tiny text with QuickGELU instead of GELU: max-abs error {error:.3e} normalised"
    );
    assert!(error > 10.0 * TOLERANCE);
}

#[test]
fn tiny_var_store_holds_exactly_the_configured_parameters() {
    let cfg = ClipConfig::preset("rwclip-tiny").unwrap();
    let model = ClipModel::load(&cfg, None, Device::Cpu).unwrap();
    let (visual, text) = cfg.num_params();
    let count = |visual_part: bool| -> i64 {
        model
            .vs
            .variables()
            .iter()
            .filter(|(name, _)| name.starts_with("visual.") == visual_part)
            .map(|(_, t)| t.numel() as i64)
            .sum()
    };
    assert_eq!((count(true), count(false)), (visual, text));
}

#[test]
fn b16_plus_240_embeddings_match_open_clip() {
    let dir = reference_dir("clip_b16plus");
    let reference = reference(&dir);
    let model = load("ViT-B-16-plus-240", &dir.join("weights.safetensors"));

    let text = model.clip.encode_text(&reference.tokens);
    assert_parity("ViT-B-16-plus-240 text", &text, &reference.text_embeddings);
    let image = model.clip.encode_image(&reference.pixels);
    assert_parity(
        "ViT-B-16-plus-240 image",
        &image,
        &reference.image_embeddings,
    );
}

fn convert_checkpoint(checkpoint: &Path, out: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/convert_openclip.py");
    let output = Command::new(env!("RWCLIP_PYTHON"))
        .arg(&script)
        .args(["--model", "rwclip-tiny", "--checkpoint"])
        .arg(checkpoint)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run `make bootstrap`",
                env!("RWCLIP_PYTHON")
            )
        });
    assert!(
        output.status.success(),
        "convert_openclip.py failed on {}:\n{}",
        checkpoint.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn converted_training_checkpoints_reproduce_open_clip() {
    let dir = reference_dir("clip_tiny");
    let reference = reference(&dir);
    let scratch = tempfile::tempdir().unwrap();
    for checkpoint in ["checkpoint_plain.pt", "checkpoint_wrapped.pt"] {
        let converted = scratch.path().join(format!("{checkpoint}.safetensors"));
        convert_checkpoint(&dir.join(checkpoint), &converted);
        let model = load("rwclip-tiny", &converted);
        let text = model.clip.encode_text(&reference.tokens);
        let image = model.clip.encode_image(&reference.pixels);
        assert_parity(
            &format!("{checkpoint} converted, text"),
            &text,
            &reference.text_embeddings,
        );
        assert_parity(
            &format!("{checkpoint} converted, image"),
            &image,
            &reference.image_embeddings,
        );
    }
}

/// open_clip's defaults for keys its model configs usually omit.
const OPEN_CLIP_HEAD_WIDTH: i64 = 64;
const OPEN_CLIP_MLP_RATIO: i64 = 4;

#[test]
fn presets_match_open_clip_model_configs() {
    let path = reference_dir("clip_tiny").join("presets.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let configs: Value = serde_json::from_str(&text).unwrap();
    let int = |v: &Value, key: &str, default: Option<i64>| -> i64 {
        v.get(key)
            .and_then(Value::as_i64)
            .or(default)
            .unwrap_or_else(|| panic!("{key} missing in {v}"))
    };
    for name in PRESET_NAMES {
        let open_clip = &configs[*name];
        let (vision, text) = (&open_clip["vision_cfg"], &open_clip["text_cfg"]);
        let ours = ClipConfig::preset(name).unwrap();
        let v = &ours.vision;
        let vision_width = int(vision, "width", None);
        let head_width = int(vision, "head_width", Some(OPEN_CLIP_HEAD_WIDTH));
        assert_eq!(ours.embed_dim, int(open_clip, "embed_dim", None), "{name}");
        assert_eq!(
            ours.quick_gelu,
            open_clip["quick_gelu"].as_bool().unwrap_or(false),
            "{name}"
        );
        assert_eq!(
            (
                v.image_size,
                v.patch_size,
                v.width,
                v.layers,
                v.heads,
                v.mlp_width
            ),
            (
                int(vision, "image_size", None),
                int(vision, "patch_size", None),
                vision_width,
                int(vision, "layers", None),
                vision_width / head_width,
                OPEN_CLIP_MLP_RATIO * vision_width,
            ),
            "{name} vision"
        );
        let t = &ours.text;
        let text_width = int(text, "width", None);
        assert_eq!(
            (
                t.context_length,
                t.vocab_size,
                t.width,
                t.heads,
                t.layers,
                t.mlp_width
            ),
            (
                int(text, "context_length", None),
                int(text, "vocab_size", None),
                text_width,
                int(text, "heads", None),
                int(text, "layers", None),
                OPEN_CLIP_MLP_RATIO * text_width,
            ),
            "{name} text"
        );
    }
}
