//! Shard executors and the local plan runner on the rwclip-tiny preset.

use std::path::Path;

use rwclip_inputs::synth::{self, SynthSpec};
use rwclip_job::Job;
use rwclip_plan::{plan_with, AttemptId, JobPlan, PlanOptions, ShardKind, ShardSpec};
use rwclip_store::shard_store::Manifest;
use rwclip_engine::blocking_store::BlockingStore;
use rwclip_engine::shard::{execute, ExecContext};
use rwclip_worker::local_plan::{execute_any, run_plan_locally};

fn dataset(dir: &Path) {
    let spec = SynthSpec {
        categories: vec!["weave".into(), "granite".into()],
        train_good: 0,
        test_good: 3,
        test_defective: 1,
        defect_types: vec!["hole".into(), "stain".into()],
        image_size: 64,
        seed: 0,
    };
    synth::write(&dir.join("data"), &spec).unwrap();
}

fn job(dir: &Path) -> Job {
    let text = "name = \"t\"\noutput = \"out\"\n[model]\npreset = \"rwclip-tiny\"\ndevice = \"cpu\"\n\
                text_batch_size = 4\nimage_batch_size = 2\n[dataset]\nkind = \"mvtec\"\nroot = \"data\"\n\
                [prompts]\npairs = [6, 12]\n[training]\nseeds = [0, 1]\n[training.fnn]\nhidden = [8]\nepochs = 1\npairs_per_batch = 4\n";
    Job::parse(text, &dir.join("job.toml")).unwrap()
}

fn ctx() -> ExecContext {
    ExecContext::new(tch::Device::Cpu, 2)
}

/// Bytes of every part of the aggregate's manifest, by part file name.
fn results(store: &BlockingStore, m: &Manifest) -> Vec<(String, Vec<u8>)> {
    m.parts
        .iter()
        .map(|p| (p.rsplit('/').next().unwrap().to_string(), store.get(p).unwrap().to_vec()))
        .collect()
}

fn run(dir: &Path, plan: &JobPlan, out: &str) -> (BlockingStore, Vec<(String, Vec<u8>)>, usize) {
    let store = BlockingStore::open(dir.join(out).to_str().unwrap()).unwrap();
    let r = run_plan_locally(plan, &store, &mut ctx()).unwrap();
    let res = results(&store, &r.aggregate);
    (store, res, r.executed.len())
}

const SMALL: PlanOptions = PlanOptions {
    text_shard_pairs: 4,
    image_shard_images: 4,
    max_shards: rwclip_plan::MAX_PLAN_SHARDS,
};

#[test]
fn second_local_run_recomputes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let plan = plan_with(&job(dir.path()), &SMALL).unwrap();
    let store = BlockingStore::open(dir.path().join("out").to_str().unwrap()).unwrap();
    let first = run_plan_locally(&plan, &store, &mut ctx()).unwrap();
    assert_eq!(first.executed.len(), plan.shards.len());
    let second = run_plan_locally(&plan, &store, &mut ctx()).unwrap();
    assert!(second.executed.is_empty(), "{:?}", second.executed);
    assert_eq!(second.reused.len(), plan.shards.len());
    assert_eq!(first.aggregate, second.aggregate);
    let names: Vec<_> = results(&store, &first.aggregate).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[..4], ["metrics.parquet", "results.parquet", "results.csv", "results.md"]);
    // Then the figures (this job sweeps Np over one dataset), then the report.
    assert_eq!(
        names[4..],
        [
            "fig4-mvtec-ad.svg", "fig4-mvtec-ad.png", "roc-mvtec-ad.svg", "roc-mvtec-ad.png", "pr-mvtec-ad.svg", "pr-mvtec-ad.png", "scores-mvtec-ad.svg", "scores-mvtec-ad.png",
            "fig3-text-embeddings.svg", "fig3-text-embeddings.png", "fig5-fnn-layers.svg", "fig5-fnn-layers.png", "results.html"
        ]
    );
}

#[test]
fn results_do_not_depend_on_shard_sizes_or_order() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let job = job(dir.path());
    let small = plan_with(&job, &SMALL).unwrap();
    let large = plan_with(&job, &PlanOptions { text_shard_pairs: 12, image_shard_images: 100, ..PlanOptions::default() }).unwrap();
    assert_ne!(small.shards.len(), large.shards.len());
    let (_, a, _) = run(dir.path(), &small, "a");
    let (_, b, _) = run(dir.path(), &large, "b");
    assert_eq!(a, b, "different shard sizes give different results");

    // Embedding shards in reverse order, then the rest.
    let store = BlockingStore::open(dir.path().join("c").to_str().unwrap()).unwrap();
    let mut c = ctx();
    let attempt = AttemptId("x".into());
    let (emb, rest): (Vec<_>, Vec<_>) = small
        .shards
        .iter()
        .partition(|s| matches!(s.kind, ShardKind::TextEmbedding | ShardKind::ImageEmbedding));
    let mut last = None;
    for s in emb.iter().rev().chain(&rest) {
        last = Some(execute_any(&ShardSpec::from_json(&s.spec_json).unwrap(), &mut c, &store, &attempt, "w").unwrap());
    }
    assert_eq!(results(&store, &last.unwrap()), a);
}

#[test]
fn first_commit_wins() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let plan = plan_with(&job(dir.path()), &SMALL).unwrap();
    let store = BlockingStore::open(dir.path().join("out").to_str().unwrap()).unwrap();
    let text = plan.shards.iter().find(|s| s.kind == ShardKind::TextEmbedding).unwrap();
    let spec = ShardSpec::from_json(&text.spec_json).unwrap();
    let mut c = ctx();
    let one = execute(&spec, &mut c, &store, &AttemptId("a1".into()), "w1", &|_, _| {}).unwrap();
    let two = execute(&spec, &mut c, &store, &AttemptId("a2".into()), "w2", &|_, _| {}).unwrap();
    assert_eq!(one.attempt, AttemptId("a1".into()));
    assert_eq!(two, one, "the second attempt gets the first's manifest");
    assert!(one.parts.iter().all(|p| p.contains("/attempts/a1/")));
}

#[test]
fn corrupt_image_is_a_permanent_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let plan = plan_with(&job(dir.path()), &SMALL).unwrap();
    let image = plan.shards.iter().find(|s| s.kind == ShardKind::ImageEmbedding).unwrap();
    let ShardSpec::ImageEmbedding(spec) = ShardSpec::from_json(&image.spec_json).unwrap() else { unreachable!() };
    let victim = &spec.images[1].path;
    std::fs::write(Path::new(&spec.dataset_root).join(victim), b"not a png").unwrap();
    let store = BlockingStore::open(dir.path().join("out").to_str().unwrap()).unwrap();
    let err = execute(&ShardSpec::ImageEmbedding(spec.clone()), &mut ctx(), &store, &AttemptId("a".into()), "w", &|_, _| {})
        .unwrap_err();
    assert!(!err.class().is_retryable(), "{err}");
    assert_eq!(err.class(), rwclip_core::failure::FailureClass::BadInput, "{err}");
    assert!(err.to_string().contains(victim.as_str()), "{err}");
    assert!(!store.exists(&rwclip_store::shard_store::manifest_key(&image.id)).unwrap(), "nothing committed");
}

/// Text embeddings of every committed text shard of `plan`, by (pair, label).
fn text_embeddings(store: &BlockingStore, plan: &JobPlan, seed: u64) -> Vec<(u64, u8, Vec<f32>)> {
    use rwclip_artifacts::TextEmbeddingRow;
    let mut rows = Vec::new();
    for s in plan.shards.iter().filter(|s| s.kind == ShardKind::TextEmbedding) {
        let ShardSpec::TextEmbedding(t) = ShardSpec::from_json(&s.spec_json).unwrap() else { unreachable!() };
        if t.seed != seed {
            continue;
        }
        let manifest: Manifest = serde_json::from_slice(&store.get(&rwclip_store::shard_store::manifest_key(&s.id)).unwrap()).unwrap();
        let key = manifest.parts.iter().find(|p| p.ends_with("text_embeddings.parquet")).unwrap();
        for r in store.read_rows::<TextEmbeddingRow>(key).unwrap() {
            rows.push((r.pair_id, r.label.unwrap(), r.embedding));
        }
    }
    rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    rows
}

#[test]
fn length_sorted_text_batches_are_bit_identical_across_text_shard_sizes_and_match_prompt_order() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    // 40 pairs with batches of 4 prompts: sort windows of 32 prompts (16
    // pairs), more than one window, so shards hold whole windows.
    let text = "name = \"t\"\noutput = \"out\"\n[model]\npreset = \"rwclip-tiny\"\ndevice = \"cpu\"\n\
                text_batch_size = 4\nimage_batch_size = 2\n[dataset]\nkind = \"mvtec\"\nroot = \"data\"\n\
                [prompts]\npairs = [40]\n[training]\nseeds = [0]\n[training.fnn]\nhidden = [8]\nepochs = 1\npairs_per_batch = 4\n";
    let job = Job::parse(text, &dir.path().join("job.toml")).unwrap();
    let narrow = plan_with(&job, &PlanOptions { text_shard_pairs: 4, ..SMALL }).unwrap();
    let wide = plan_with(&job, &PlanOptions { text_shard_pairs: 1000, ..SMALL }).unwrap();
    let count = |p: &JobPlan| p.shards.iter().filter(|s| s.kind == ShardKind::TextEmbedding).count();
    assert_eq!((count(&narrow), count(&wide)), (3, 1), "16-pair shards vs one 48-pair shard");
    let (a_store, a, _) = run(dir.path(), &narrow, "a");
    let (b_store, b, _) = run(dir.path(), &wide, "b");
    assert_eq!(a, b, "results depend on the text shard size");
    let a_rows = text_embeddings(&a_store, &narrow, 0);
    let b_rows = text_embeddings(&b_store, &wide, 0);
    assert_eq!(a_rows.len(), 96);
    assert_eq!(a_rows, b_rows, "text embeddings differ between shardings");

    // The same prompts in prompt-order batches (sort_window 0): the same
    // numbers up to float rounding of a different batch composition.
    let mut legacy = narrow.clone();
    for s in legacy.shards.iter_mut().filter(|s| s.kind == ShardKind::TextEmbedding) {
        let ShardSpec::TextEmbedding(mut t) = ShardSpec::from_json(&s.spec_json).unwrap() else { unreachable!() };
        assert_eq!(t.sort_window, 32);
        t.sort_window = 0;
        let spec = ShardSpec::TextEmbedding(t);
        s.id = spec.id();
        s.spec_json = spec.to_json();
    }
    let store = BlockingStore::open(dir.path().join("legacy").to_str().unwrap()).unwrap();
    let mut c = ctx();
    for s in legacy.shards.iter().filter(|s| s.kind == ShardKind::TextEmbedding) {
        execute(&ShardSpec::from_json(&s.spec_json).unwrap(), &mut c, &store, &AttemptId("l".into()), "w", &|_, _| {}).unwrap();
    }
    let legacy_rows = text_embeddings(&store, &legacy, 0);
    assert_eq!(legacy_rows.len(), a_rows.len());
    let worst = a_rows
        .iter()
        .zip(&legacy_rows)
        .flat_map(|(x, y)| {
            assert_eq!((x.0, x.1), (y.0, y.1));
            x.2.iter().zip(&y.2).map(|(p, q)| (p - q).abs())
        })
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "sorted batches moved an embedding value by {worst}");
}

#[test]
fn a_bf16_job_plans_its_own_shards_and_runs_with_embeddings_near_fp32() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let fp32 = plan_with(&job(dir.path()), &SMALL).unwrap();
    let bf16_text = "name = \"t\"\noutput = \"out\"\n[model]\npreset = \"rwclip-tiny\"\ndevice = \"cpu\"\nprecision = \"bf16\"\n\
                text_batch_size = 4\nimage_batch_size = 2\n[dataset]\nkind = \"mvtec\"\nroot = \"data\"\n\
                [prompts]\npairs = [6, 12]\n[training]\nseeds = [0, 1]\n[training.fnn]\nhidden = [8]\nepochs = 1\npairs_per_batch = 4\n";
    let bf16 = plan_with(&Job::parse(bf16_text, &dir.path().join("job.toml")).unwrap(), &SMALL).unwrap();
    assert_eq!(fp32.shards.len(), bf16.shards.len());
    for (a, b) in fp32.shards.iter().zip(&bf16.shards) {
        assert_ne!(a.id, b.id, "a bf16 shard must not reuse an fp32 one's output");
        if let Some(key) = &b.model_key {
            assert!(key.ends_with("#bf16"), "{key}");
        }
    }
    let (a_store, _, _) = run(dir.path(), &fp32, "a");
    let (b_store, _, _) = run(dir.path(), &bf16, "b");
    let (x, y) = (text_embeddings(&a_store, &fp32, 0), text_embeddings(&b_store, &bf16, 0));
    assert_eq!(x.len(), y.len());
    for (p, q) in x.iter().zip(&y) {
        let dot: f64 = p.2.iter().zip(&q.2).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
        let norm = |v: &[f32]| v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let cos = dot / (norm(&p.2) * norm(&q.2));
        assert!(cos >= 0.999, "pair {} label {}: cosine {cos}", p.0, p.1);
        assert_ne!(p.2, q.2, "bf16 computed exactly fp32's numbers");
    }
}
