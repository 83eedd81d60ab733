//! `make bench` (maps): WinCLIP zero-shot against anomalib 2.7.0's own
//! WinClipModel, and the cost of `ours` maps over image-only scoring, in one
//! run, on the same random-init ViT-B-16-plus-240 weights, the same
//! normalised images and the same thread count; best of `REPEATS`, ratios.
//!
//! Both WinCLIP sides exclude the text prototypes (built once per object
//! word) and include the image pass, every window of both scales, the
//! aggregation and the upsampling to 240×240.

use std::path::Path;
use std::process::Command;

use rwclip_common::clip_config::ClipConfig;
use rwclip_engine::clip::ClipModel;
use rwclip_engine::fnn::Fnn;
use rwclip_engine::maps::winclip::{text_prototypes, WinClip};
use rwclip_engine::maps::{embedding_score_maps, encode_for_maps, window_sets, DEFAULT_SCALES};
use rwclip_inputs::tokenizer::ClipTokenizer;
use rwclip_test_support::bench::best_of;
use tch::{Device, Tensor};

const REPEATS: usize = 2;
const OBJECT: &str = "metal nut";

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
    let prototypes = text_prototypes(&model, &tokenizer, OBJECT, 64).unwrap();
    let windows = window_sets(&model, &DEFAULT_SCALES);
    let winclip = WinClip::new(prototypes, None);
    let ours_s = best_of(REPEATS, || {
        let encoded = encode_for_maps(&model, &images, &windows);
        let maps = winclip.score(&encoded, &windows).upsampled(240);
        assert_eq!(maps.size(), [images.size()[0], 240, 240]);
    });

    let env = std::env::var("RWCLIP_WINCLIP_ENV").unwrap_or_else(|_| format!("{}/.cache/rwclip/winclip-reference", std::env::var("HOME").unwrap()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/bench_maps.py");
    let out = Command::new(env!("RWCLIP_PYTHON"))
        .arg(&script)
        .args([weights.to_str().unwrap(), inputs.to_str().unwrap(), OBJECT, &threads.to_string(), &REPEATS.to_string()])
        .env("PYTHONPATH", &env)
        .env("PYTHONNOUSERSITE", "1")
        .output()
        .expect("run the anomalib bench (make bootstrap)");
    assert!(out.status.success(), "anomalib bench failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(out.stdout.split(|&b| b == b'\n').find(|l| l.starts_with(b"{")).unwrap()).unwrap();
    let anomalib_s = line["seconds"].as_f64().unwrap();

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

    println!("maps bench: ViT-B-16-plus-240 random init, {n} images of 240×240, {threads} threads, best of {REPEATS}");
    println!("| measure | rwclip | reference | ratio |");
    println!("|---|---|---|---|");
    println!("| WinCLIP zero-shot, images/s | {:.3} | {:.3} (anomalib 2.7.0 WinClipModel) | {:.2}× |", n / ours_s, n / anomalib_s, anomalib_s / ours_s);
    println!("| `ours` maps vs image-only scoring, s/image | {:.2} | {:.2} (image only) | {:.1}× the cost |", ours_maps_s / n, image_only_s / n, ours_maps_s / image_only_s);
}
