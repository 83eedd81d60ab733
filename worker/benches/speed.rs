//! `make bench`: rwclip against open_clip on the same inputs, in one run,
//! reported as ratios (open_clip time / rwclip time; > 1 means rwclip is
//! faster). Best of N repeats per stage; both sides use libtorch's default
//! thread count on this machine.
//!
//! Stages: tokenizing random-word prompts, decoding + preprocessing image
//! files, and the ViT-B-16-plus-240 text and image towers (random init: the
//! weights do not change the arithmetic).

use std::path::Path;
use std::process::Command;

use rwclip_job::clip_config::ClipConfig;
use rwclip_inputs::synth::{self, SynthSpec};
use rwclip_inputs::preprocess::Preprocess;
use rwclip_job::prompts::PromptGenerator;
use rwclip_inputs::tokenizer::ClipTokenizer;
use rwclip_engine::clip::ClipModel;
use rwclip_test_support::bench::best_of;
use tch::{Device, Kind, Tensor};

const MODEL: &str = "ViT-B-16-plus-240";
const PROMPT_PAIRS: u64 = 5_000;
const REPEATS: usize = 3;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let prompts: Vec<String> = PromptGenerator::default()
        .pairs(0, PROMPT_PAIRS)
        .into_iter()
        .flat_map(|p| [p.normal, p.anomaly])
        .collect();
    let prompts_path = dir.path().join("prompts.txt");
    std::fs::write(&prompts_path, prompts.join("\n")).expect("write prompts");

    // Real image files (PNG and JPEG) from the synthetic MVTec-layout writer.
    let data = dir.path().join("data");
    let spec = SynthSpec { test_good: 4, test_defective: 1, ..SynthSpec::default() };
    synth::write(&data, &spec).expect("synthesise images");
    let images_dir = dir.path().join("images");
    std::fs::create_dir_all(&images_dir).expect("images dir");
    let mut n = 0;
    for r in rwclip_datasets::mvtec::read_test(&data, None).expect("read synth") {
        let src = data.join(&r.path);
        let ext = src.extension().unwrap().to_string_lossy().into_owned();
        std::fs::copy(&src, images_dir.join(format!("{n:04}.{ext}"))).expect("copy image");
        n += 1;
    }
    let mut images: Vec<_> = std::fs::read_dir(&images_dir).unwrap().map(|e| e.unwrap().path()).collect();
    images.sort();

    let cfg = ClipConfig::preset(MODEL).expect("preset");
    let model = ClipModel::load(&cfg, None, Device::Cpu).expect("random init");
    let tokenizer = ClipTokenizer::new().expect("tokenizer");
    let preprocess = Preprocess::openai(cfg.vision.image_size as u32);

    let ours_tokenize = best_of(REPEATS, || {
        tokenizer.tokenize_batch(&prompts, 77).expect("tokenize");
    });
    let ours_preprocess = best_of(REPEATS, || {
        for p in &images {
            preprocess.load(p).expect("preprocess");
        }
    });
    let ids = tokenizer.tokenize_batch(&prompts[..64], 77).unwrap();
    let tokens = Tensor::from_slice(&ids).view([64, 77]);
    let ours_text = best_of(REPEATS, || {
        let _ = model.clip.encode_text(&tokens);
    });
    let s = cfg.vision.image_size;
    let pixels: Vec<f32> = images[..8].iter().flat_map(|p| preprocess.load(p).unwrap()).collect();
    let batch = Tensor::from_slice(&pixels).view([8, 3, s, s]).to_kind(Kind::Float);
    let ours_image = best_of(REPEATS, || {
        let _ = model.clip.encode_image(&batch);
    });

    let python = env!("RWCLIP_PYTHON");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/bench_reference.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(&prompts_path)
        .arg(&images_dir)
        .arg(MODEL)
        .arg(REPEATS.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (make bootstrap): {e}"));
    assert!(out.status.success(), "reference bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reference JSON");
    let r = |k: &str| reference[k].as_f64().unwrap_or(f64::NAN);

    println!(
        "rwclip vs open_clip, {MODEL}, libtorch threads: rwclip {} / open_clip {}, best of {REPEATS}",
        tch::get_num_threads(),
        reference["threads"]
    );
    println!("| stage | items | rwclip s | open_clip s | speed-up |\n|---|---|---|---|---|");
    let row = |name: &str, items: usize, ours: f64, theirs: f64| {
        println!("| {name} | {items} | {ours:.3} | {theirs:.3} | {:.2}x |", theirs / ours)
    };
    row("tokenize", prompts.len(), ours_tokenize, r("tokenize"));
    row("decode + preprocess", images.len(), ours_preprocess, r("preprocess"));
    row("encode_text (64 prompts)", 64, ours_text, r("encode_text_64"));
    row("encode_image (8 images)", 8, ours_image, r("encode_image_8"));
}
