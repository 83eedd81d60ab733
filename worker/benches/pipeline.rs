//! `make bench` (second part): the job paths against their own ceilings and
//! against open_clip / PyTorch, in one run, same model and thread count on
//! both sides, best of `REPEATS`; ratios, never absolute targets.
//!
//! - encode_text of random-word prompts: rwclip's sweep path (length-sorted
//!   windows) and its prompt-order batches vs open_clip `encode_text`;
//! - end to end: image files in a local manifest → Parquet score rows (a
//!   `kind = "score"` job's shards run in process) vs rwclip's forward pass
//!   on pre-decoded tensors, and vs open_clip + a torch `DataLoader` with
//!   workers writing the same rows with pyarrow;
//! - multi-crop: views per second against the single view;
//! - FNN training (10k pairs, 2 epochs, the paper's network) vs the same
//!   network in PyTorch, one thread each (trials pin one).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rwclip_test_support::bench::best_of;

use rwclip_job::synth::SynthSpec;
use rwclip_job::detector::ScoreKind;
use rwclip_job::fnn_config::FnnConfig;
use rwclip_job::{PathChecks, WordPair};
use rwclip_plan::{text_sort_window, JobPlan, ModelRef};
use rwclip_job::prompts::PromptGenerator;
use rwclip_job::score_job::ScoreJob;
use rwclip_scoring::plan_score;
use rwclip_engine::blocking_store::BlockingStore;
use rwclip_engine::detector::{train_detector, TrainSpec};
use rwclip_engine::embed::{embed_prompt_range, encode_pixels};
use rwclip_engine::fnn::Fnn;
use rwclip_engine::shard::ExecContext;
use rwclip_worker::local_plan::run_plan_locally;
use rwclip_inputs::preprocess::{Preprocess, View};
use rwclip_inputs::synth;
use rwclip_inputs::tokenizer::ClipTokenizer;
use tch::{Device, Kind, Tensor};

const TEXT_MODEL: &str = "ViT-B-16-plus-240";
const TEXT_PROMPTS: u64 = 256;
const TEXT_BATCH: usize = 32;
const IMAGE_MODEL: &str = "ViT-B-32";
const IMAGE_BATCH: usize = 16;
/// MVTec-AD's images are 700 to 1024 px, sewer-inspection frames 1080p:
/// decoding them is real work beside the model.
const IMAGE_PX: u32 = 1024;
const FNN_PAIRS: i64 = 10_000;
const FNN_DIM: i64 = 640;
const REPEATS: usize = 2;

/// Synthetic MVTec-layout images (PNG and JPEG) at `IMAGE_PX`, listed in a
/// manifest CSV next to them; returns the manifest and the image paths.
fn images(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    let data = dir.join("data");
    let spec = SynthSpec { train_good: 0, test_good: 8, test_defective: 8, image_size: IMAGE_PX, ..SynthSpec::default() };
    synth::write(&data, &spec).expect("synthesise images");
    let records = rwclip_datasets::mvtec::read_test(&data, None).expect("read synth");
    let mut csv = String::from("uri\n");
    let mut paths = Vec::new();
    for r in &records {
        csv.push_str(&format!("{}\n", r.path));
        paths.push(data.join(&r.path));
    }
    let manifest = data.join("manifest.csv");
    std::fs::write(&manifest, csv).expect("write manifest");
    (manifest, paths)
}

fn detector(ctx: &mut ExecContext, dir: &Path, multi_crop: bool) -> PathBuf {
    let spec = TrainSpec {
        model: ModelRef::new(IMAGE_MODEL, None),
        pairs: 64,
        seed: 0,
        words: WordPair { normal: "a".into(), anomaly: "a damaged".into() },
        min_len: 5,
        max_len: 10,
        fnn: FnnConfig { epochs: 1, ..FnnConfig::default() },
        text_batch_size: 64,
        object_word: "object".into(),
        temperature: 0.01,
        score: ScoreKind::PrFnn,
        multi_crop,
    };
    let bytes = train_detector(&spec, ctx).expect("train the detector");
    let path = dir.join(if multi_crop { "detector-mc.safetensors" } else { "detector.safetensors" });
    std::fs::write(&path, bytes).expect("write detector");
    path
}

/// Seconds to score every manifest row into Parquet, in process (plan, then
/// the score shards and the summary), into a fresh output each time.
fn score_job(ctx: &mut ExecContext, dir: &Path, manifest: &Path, detector: &Path, rows: usize, run: usize) -> f64 {
    let out = dir.join(format!("out-{run}"));
    let text = format!(
        "kind = \"score\"\nname = \"bench\"\noutput = {:?}\ndetector = {:?}\ninput = {:?}\nrows_per_shard = {rows}\n[model]\ndevice = \"cpu\"\nimage_batch_size = {IMAGE_BATCH}\n",
        out.to_str().unwrap(),
        detector.to_str().unwrap(),
        manifest.to_str().unwrap()
    );
    let job = ScoreJob::parse_with(&text, &dir.join("score.toml"), PathChecks::Check).expect("scoring job");
    let store = BlockingStore::open(dir.join(format!("store-{run}")).to_str().unwrap()).expect("store");
    let t = Instant::now();
    let planned = plan_score(&job).expect("plan");
    let aggregate = planned.shards.last().expect("a summary shard").id.clone();
    let plan = JobPlan { job: planned.job, shards: planned.shards, aggregate };
    run_plan_locally(&plan, &store, ctx).expect("scoring runs");
    t.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let threads = tch::get_num_threads();
    let mut ctx = ExecContext::new(Device::Cpu, 2);

    // --- text ---
    let prompts: Vec<String> = PromptGenerator::default().pairs(0, TEXT_PROMPTS / 2).into_iter().flat_map(|p| [p.normal, p.anomaly]).collect();
    let prompts_path = dir.path().join("prompts.txt");
    std::fs::write(&prompts_path, prompts.join("\n")).expect("write prompts");
    let text_model = ctx.model(&ModelRef::new(TEXT_MODEL, None)).expect("text model");
    let tokenizer = ClipTokenizer::new().expect("tokenizer");
    let window = text_sort_window(TEXT_BATCH);
    let text_sorted = best_of(REPEATS, || {
        let _ = embed_prompt_range(&text_model, &tokenizer, &prompts, 0, TEXT_BATCH, window).expect("encode");
    });
    let text_ordered = best_of(REPEATS, || {
        let _ = embed_prompt_range(&text_model, &tokenizer, &prompts, 0, TEXT_BATCH, 0).expect("encode");
    });
    drop(text_model);

    // --- images ---
    let (manifest, paths) = images(dir.path());
    let n = paths.len();
    let single = detector(&mut ctx, dir.path(), false);
    let multi = detector(&mut ctx, dir.path(), true);
    let model = ctx.model(&ModelRef::new(IMAGE_MODEL, None)).expect("image model");
    let size = model.cfg.vision.image_size as u32;
    let mut run = 0;
    let mut next_run = || {
        run += 1;
        run
    };
    let e2e = best_of(REPEATS, || {
        score_job(&mut ctx, dir.path(), &manifest, &single, n, next_run());
    });
    let e2e_multi = best_of(REPEATS, || {
        score_job(&mut ctx, dir.path(), &manifest, &multi, n, next_run());
    });
    // Forward only: the same batches, already decoded, through CLIP and the FNN.
    let preprocess = Preprocess::openai(size);
    let decoded: Vec<Vec<f32>> = paths
        .iter()
        .map(|p| preprocess.load_bytes_views(&std::fs::read(p).unwrap(), &p.display().to_string(), &[View::Center]).unwrap().remove(0))
        .collect();
    let fnn = Fnn::from_safetensors(&std::fs::read(&single).unwrap(), Device::Cpu).expect("detector FNN");
    let forward = best_of(REPEATS, || {
        for chunk in decoded.chunks(IMAGE_BATCH) {
            let pixels: Vec<f32> = chunk.iter().flatten().copied().collect();
            let emb = encode_pixels(&model, &pixels, chunk.len(), size);
            let _ = fnn.score(&emb);
        }
    });

    // --- FNN training, one thread (as trials run it) ---
    tch::manual_seed(0);
    let normal = Tensor::randn([FNN_PAIRS, FNN_DIM], (Kind::Float, Device::Cpu));
    let anomaly = Tensor::randn([FNN_PAIRS, FNN_DIM], (Kind::Float, Device::Cpu));
    tch::set_num_threads(1);
    let fnn_train = best_of(REPEATS, || {
        Fnn::train(&normal, &anomaly, &FnnConfig::default(), 0, Device::Cpu).expect("train");
    });
    tch::set_num_threads(threads);

    // --- the Python side, same inputs ---
    let images_list = dir.path().join("images.txt");
    std::fs::write(&images_list, paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n")).unwrap();
    let python = env!("RWCLIP_PYTHON");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/bench_pipeline.py");
    let out = Command::new(python)
        .arg(&script)
        .args([prompts_path.to_str().unwrap(), TEXT_MODEL, &TEXT_BATCH.to_string()])
        .args([images_list.to_str().unwrap(), IMAGE_MODEL, &IMAGE_BATCH.to_string(), dir.path().join("py-out").to_str().unwrap()])
        .args([&FNN_PAIRS.to_string(), &FNN_DIM.to_string(), &REPEATS.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (make bootstrap): {e}"));
    assert!(out.status.success(), "reference bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reference JSON");
    let r = |k: &str| reference[k].as_f64().unwrap_or(f64::NAN);

    println!("rwclip job paths vs their ceilings and vs open_clip / PyTorch; libtorch threads {threads} (FNN training 1), best of {REPEATS}");
    println!("| measure | rwclip | reference | ratio | target |\n|---|---|---|---|---|");
    let (pt, ps, po) = (TEXT_PROMPTS as f64, n as f64, n as f64 * 5.0);
    println!(
        "| encode_text, {TEXT_PROMPTS} random-word prompts, {TEXT_MODEL}, batches of {TEXT_BATCH} | {:.1} prompts/s (prompt-order batches {:.1}) | open_clip {:.1} prompts/s | {:.2}x (prompt order {:.2}x) | >= 3x |",
        pt / text_sorted,
        pt / text_ordered,
        pt / r("encode_text"),
        r("encode_text") / text_sorted,
        r("encode_text") / text_ordered
    );
    println!(
        "| end to end, {n} PNG/JPEG files ({IMAGE_PX} px) in a manifest -> Parquet score rows, {IMAGE_MODEL} | {:.2} images/s | forward only on decoded tensors {:.2} images/s | {:.2}x | >= 0.9x |",
        ps / e2e,
        ps / forward,
        forward / e2e
    );
    println!(
        "| the same end to end vs open_clip + DataLoader({} workers) + pyarrow | {:.2} images/s | {:.2} images/s | {:.2}x | >= 1.3x |",
        reference["loader_workers"],
        ps / e2e,
        ps / r("end_to_end"),
        r("end_to_end") / e2e
    );
    println!(
        "| multi-crop (5 views) vs single view, per view | {:.2} views/s | {:.2} views/s | {:.2}x | >= 0.95x |",
        po / e2e_multi,
        ps / e2e,
        (po / e2e_multi) / (ps / e2e)
    );
    println!(
        "| FNN training, {FNN_PAIRS} pairs x {FNN_DIM}, 2 epochs, hidden [256, 256, 256] | {fnn_train:.2} s | PyTorch {:.2} s | {:.2}x the time | <= 1.0x |",
        r("fnn_train"),
        fnn_train / r("fnn_train")
    );
}
