//! `make bench` (maps): WinCLIP zero-shot against anomalib 2.7.0's own
//! WinClipModel, and the cost of `ours` maps over image-only scoring, in one
//! run, on the same random-init ViT-B-16-plus-240 weights, the same
//! normalised images and the same thread count; best of `REPEATS`, ratios.
//!
//! Both WinCLIP sides exclude the text prototypes (built once per object
//! word) and include the image pass, every window of both scales, the
//! aggregation and the upsampling to 240×240. Each runs in fp32, then in
//! bf16 (rwclip's `precision = "bf16"`; anomalib under torch's CPU autocast),
//! where the CPU has fast bf16 arithmetic.

use std::path::Path;
use std::process::Command;

use rwclip_job::clip_config::ClipConfig;
use rwclip_job::Precision;
use rwclip_engine::clip::ClipModel;
use rwclip_engine::fnn::Fnn;
use rwclip_engine::maps::winclip::{text_prototypes, WinClip};
use rwclip_engine::maps::{embedding_score_maps, encode_for_maps, window_sets, WindowSet, DEFAULT_SCALES};
use rwclip_inputs::tokenizer::ClipTokenizer;
use rwclip_test_support::bench::best_of;
use tch::{Device, Tensor};

const REPEATS: usize = 3;
const OBJECT: &str = "metal nut";

/// anomalib's best time over `REPEATS` and the part of it inside its
/// transformer passes, in `precision` (`fp32` or `bf16`).
struct AnomalibRun {
    seconds: f64,
    transformer_seconds: f64,
}

fn anomalib(weights: &Path, inputs: &Path, threads: usize, precision: &str) -> AnomalibRun {
    let env = std::env::var("RWCLIP_WINCLIP_ENV").unwrap_or_else(|_| format!("{}/.cache/rwclip/winclip-reference", std::env::var("HOME").unwrap()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/bench_maps.py");
    let out = Command::new(env!("RWCLIP_PYTHON"))
        .arg(&script)
        .args([weights.to_str().unwrap(), inputs.to_str().unwrap(), OBJECT, &threads.to_string(), &REPEATS.to_string(), precision])
        .env("PYTHONPATH", &env)
        .env("PYTHONNOUSERSITE", "1")
        .output()
        .expect("run the anomalib bench (make bootstrap)");
    assert!(out.status.success(), "anomalib bench ({precision}) failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(out.stdout.split(|&b| b == b'\n').find(|l| l.starts_with(b"{")).unwrap()).unwrap();
    AnomalibRun { seconds: line["seconds"].as_f64().unwrap(), transformer_seconds: line["transformer_seconds"].as_f64().unwrap() }
}

/// rwclip's best WinCLIP time over `REPEATS`, and the last run's 240×240 maps.
fn rwclip(model: &ClipModel, winclip: &WinClip, windows: &[WindowSet], images: &Tensor) -> (f64, Tensor) {
    let mut maps = Tensor::new();
    let seconds = best_of(REPEATS, || {
        let encoded = encode_for_maps(model, images, windows);
        maps = winclip.score(&encoded, windows).upsampled(240);
        assert_eq!(maps.size(), [images.size()[0], 240, 240]);
    });
    (seconds, maps)
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    tch::set_num_threads(threads as i32);
    let reference = Path::new(env!("RWCLIP_REFERENCE_DIR")).join("winclip");
    let weights = reference.join("weights.safetensors");
    let inputs = reference.join("inputs.safetensors");
    assert!(weights.is_file() && inputs.is_file(), "{} lacks the WinCLIP reference: run `make reference`", reference.display());
    let images: Tensor = Tensor::read_safetensors(&inputs).unwrap().into_iter().find(|(k, _)| k == "images").expect("images").1;
    let n = images.size()[0] as f64;

    let cfg = ClipConfig::preset("ViT-B-16-plus-240").unwrap();
    let model = ClipModel::load(&cfg, Some(&weights), Device::Cpu).unwrap();
    let tokenizer = ClipTokenizer::new().unwrap();
    // One set of fp32 prototypes for both precisions: the prototypes are
    // outside the timing, and the same ones make the maps comparable.
    let winclip = WinClip::new(text_prototypes(&model, &tokenizer, OBJECT, 64).unwrap(), None);
    let windows = window_sets(&model, &DEFAULT_SCALES);
    let (ours_s, fp32_maps) = rwclip(&model, &winclip, &windows, &images);
    let anomalib_fp32 = anomalib(&weights, &inputs, threads, "fp32");

    // `ours` maps against image-only scoring (the FNN on the class token).
    let fnn = Fnn::new(cfg.embed_dim, &Default::default(), 7, Device::Cpu);
    let image_only_s = best_of(REPEATS, || {
        let emb = model.clip.encode_image(&images);
        let _ = fnn.score(&emb);
    });
    let ours_maps_s = best_of(REPEATS, || {
        let encoded = encode_for_maps(&model, &images, &windows);
        let _ = embedding_score_maps(&encoded, &windows, |e| fnn.score(e)).upsampled(240);
    });
    drop(model);

    let bf16_model = ClipModel::load(&cfg, Some(&weights), Device::Cpu).unwrap().with_precision(Precision::Bf16);
    let (ours_bf16_s, bf16_maps) = rwclip(&bf16_model, &winclip, &windows, &images);
    let bf16_map_error = (&bf16_maps - &fp32_maps).abs().max().double_value(&[]);
    let anomalib_bf16 = anomalib(&weights, &inputs, threads, "bf16");

    println!("maps bench: ViT-B-16-plus-240 random init, {n} images of 240×240, {threads} threads, best of {REPEATS}");
    println!("| measure | rwclip | reference | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| WinCLIP zero-shot, fp32, images/s | {:.3} | {:.3} (anomalib 2.7.0 WinClipModel) | {:.2}× |",
        n / ours_s,
        n / anomalib_fp32.seconds,
        anomalib_fp32.seconds / ours_s
    );
    // What any implementation running the same transformer passes in the
    // same precision could gain at most: all of anomalib's other time.
    println!(
        "| anomalib's time in transformer passes, fp32 | | {:.1}% of {:.2} s | ≤ {:.3}× for the same passes |",
        100.0 * anomalib_fp32.transformer_seconds / anomalib_fp32.seconds,
        anomalib_fp32.seconds,
        anomalib_fp32.seconds / anomalib_fp32.transformer_seconds
    );
    println!(
        "| WinCLIP zero-shot, bf16, images/s (maps within {bf16_map_error:.1e} of fp32) | {:.3} | {:.3} (anomalib, CPU autocast bf16) | {:.2}× ({:.2}× anomalib fp32) |",
        n / ours_bf16_s,
        n / anomalib_bf16.seconds,
        anomalib_bf16.seconds / ours_bf16_s,
        anomalib_fp32.seconds / ours_bf16_s
    );
    println!(
        "| `ours` maps vs image-only scoring, fp32, s/image | {:.2} | {:.2} (image only) | {:.1}× the cost |",
        ours_maps_s / n,
        image_only_s / n,
        ours_maps_s / image_only_s
    );
}
