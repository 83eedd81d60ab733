//! The planner: content-addressed ids, prefix sharing across Np, DAG order,
//! exact coverage, and the paper's example job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rwclip_inputs::synth::{self, SynthSpec};
use rwclip_job::Job;
use rwclip_plan::{plan_with, JobPlan, PlanOptions, PlannedShard, ShardKind, ShardSpec, TrialSpec, MAX_PLAN_SHARDS};

/// A small synthetic dataset: 2 categories × (2 good + 2 defect types × 1).
fn dataset(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("data");
    let spec = SynthSpec {
        categories: vec!["weave".into(), "granite".into()],
        train_good: 0,
        test_good: 2,
        test_defective: 1,
        defect_types: vec!["hole".into(), "stain".into()],
        image_size: 64,
        seed: 0,
    };
    synth::write(&root, &spec).unwrap();
    root
}

fn job(dir: &Path, prompts: &str, fnn: &str) -> Job {
    let text = format!(
        "name = \"t\"\noutput = \"out\"\n[model]\npreset = \"rwclip-tiny\"\ntext_batch_size = 4\nimage_batch_size = 2\n\
         [dataset]\nkind = \"mvtec\"\nroot = \"data\"\n[prompts]\n{prompts}\n[training]\nseeds = [0, 1]\n[training.fnn]\n{fnn}\n"
    );
    Job::parse(&text, &dir.join("job.toml")).unwrap()
}

const OPTS: PlanOptions = PlanOptions {
    text_shard_pairs: 8,
    image_shard_images: 3,
    max_shards: MAX_PLAN_SHARDS,
};

fn of_kind(plan: &JobPlan, kind: ShardKind) -> Vec<&PlannedShard> {
    plan.shards.iter().filter(|s| s.kind == kind).collect()
}

fn spec(s: &PlannedShard) -> ShardSpec {
    ShardSpec::from_json(&s.spec_json).unwrap()
}

#[test]
fn ids_are_identical_across_two_plans_and_match_their_specs() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let a = plan_with(&job(dir.path(), "pairs = 20", ""), &OPTS).unwrap();
    let b = plan_with(&job(dir.path(), "pairs = 20", ""), &OPTS).unwrap();
    assert_eq!(a, b);
    for s in &a.shards {
        assert_eq!(spec(s).id(), s.id, "id is the hash of spec_json");
    }
    let ids: BTreeSet<_> = a.shards.iter().map(|s| &s.id).collect();
    assert_eq!(ids.len(), a.shards.len(), "no shard planned twice");
}

#[test]
fn np_values_of_one_seed_share_their_prefix_text_shards() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let p = plan_with(&job(dir.path(), "pairs = [5, 20]", ""), &OPTS).unwrap();
    let trials: Vec<_> = of_kind(&p, ShardKind::Trial).into_iter().map(spec).collect();
    let text_of = |np: u64, seed: u64| match trials
        .iter()
        .find(|t| matches!(t, ShardSpec::Trial(t) if t.pairs == np && t.seed == seed))
    {
        Some(ShardSpec::Trial(t)) => t.text_shards.clone(),
        _ => panic!("no trial Np={np} seed={seed}"),
    };
    // Blocks of whole sort windows (8 batches of 4 prompts = 16 pairs; the
    // 8 pairs asked for round up): Np=5 uses block 0, Np=20 blocks 0..2.
    assert_eq!(text_of(5, 0).len(), 1);
    assert_eq!(text_of(20, 0).len(), 2);
    assert_eq!(text_of(5, 0)[0], text_of(20, 0)[0]);
    assert_ne!(text_of(5, 0)[0], text_of(5, 1)[0], "seeds draw different prompts");
    // 2 seeds × 2 blocks, shared by both Np.
    assert_eq!(of_kind(&p, ShardKind::TextEmbedding).len(), 4);
}

#[test]
fn fnn_config_changes_trial_ids_but_not_embedding_ids() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let a = plan_with(&job(dir.path(), "pairs = 20", "epochs = 2"), &OPTS).unwrap();
    let b = plan_with(&job(dir.path(), "pairs = 20", "epochs = 3"), &OPTS).unwrap();
    let ids = |p: &JobPlan, k| of_kind(p, k).iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    for k in [ShardKind::TextEmbedding, ShardKind::ImageEmbedding] {
        assert_eq!(ids(&a, k), ids(&b, k));
    }
    let (ta, tb) = (ids(&a, ShardKind::Trial), ids(&b, ShardKind::Trial));
    assert!(ta.iter().all(|t| !tb.contains(t)), "{ta:?} vs {tb:?}");
    assert_ne!(a.aggregate, b.aggregate);
    assert_ne!(a.job, b.job);
}

#[test]
fn shards_come_after_their_deps_and_the_aggregate_is_last() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let p = plan_with(
        &job(dir.path(), "pairs = [5, 20]\nword_pairs = [[\"a\", \"a damaged\"], [\"a good\", \"a broken\"]]", ""),
        &OPTS,
    )
    .unwrap();
    let position: BTreeMap<_, _> = p.shards.iter().enumerate().map(|(i, s)| (&s.id, i)).collect();
    for (i, s) in p.shards.iter().enumerate() {
        for d in &s.deps {
            assert!(position[d] < i, "{} depends on later {}", s.id, d);
        }
    }
    let last = p.shards.last().unwrap();
    assert_eq!(last.id, p.aggregate);
    assert_eq!(last.kind, ShardKind::Aggregate);
    // 2 Np × 2 word pairs × 2 seeds.
    assert_eq!(last.deps.len(), 8);
    assert!(of_kind(&p, ShardKind::Trial).iter().all(|t| t.model_key.as_deref() == Some("rwclip-tiny@random-init")));
}

#[test]
fn ranges_cover_pairs_and_images_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dataset(dir.path());
    let p = plan_with(&job(dir.path(), "pairs = 20", ""), &OPTS).unwrap();
    // Image shards: 3 images rounded up to whole batches of 2 = 4 per shard,
    // contiguous and covering the test list once, in order.
    let listing = rwclip_datasets::mvtec::read_test(&root, None).unwrap();
    let mut next = 0u64;
    let mut images = Vec::new();
    for s in of_kind(&p, ShardKind::ImageEmbedding) {
        let ShardSpec::ImageEmbedding(i) = spec(s) else { unreachable!() };
        assert_eq!(i.first_image, next);
        assert!(i.images.len() <= 4);
        next += i.images.len() as u64;
        images.extend(i.images);
    }
    assert_eq!(images, listing);
    // Text shards of one seed: contiguous aligned blocks of whole sort
    // windows (16 pairs) covering 0..20.
    for seed in [0, 1] {
        let mut next = 0;
        for s in of_kind(&p, ShardKind::TextEmbedding) {
            let ShardSpec::TextEmbedding(t) = spec(s) else { unreachable!() };
            if t.seed == seed {
                assert_eq!((t.first_pair, t.pairs), (next, 16));
                assert_eq!(t.sort_window, 32);
                next += 16;
            }
        }
        assert_eq!(next, 32, "blocks cover Np = 20 with whole blocks");
    }
}

#[test]
fn small_jobs_encode_only_the_pairs_they_read() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    // Largest Np 6 < the 2,048-pair default block: one block of 6 rounded up
    // to whole batches (text batch 4 = 2 pairs), not 2,048 pairs.
    let p = rwclip_plan::plan(&job(dir.path(), "pairs = [4, 6]", "hidden = [8]")).unwrap();
    let texts: Vec<_> = of_kind(&p, ShardKind::TextEmbedding)
        .into_iter()
        .map(|s| match spec(s) {
            ShardSpec::TextEmbedding(t) => (t.first_pair, t.pairs),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(texts, vec![(0, 6), (0, 6)], "one block per seed");
}

#[test]
fn multi_crop_adds_corner_shards_once_and_keeps_eval_view_ids() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let base = job(dir.path(), "pairs = [8, 16]", "hidden = [8]");
    let mut swept = base.clone();
    swept.spec.scoring.multi_crop = rwclip_job::BoolGrid::Grid(vec![false, true]);
    let (a, b) = (plan_with(&base, &OPTS).unwrap(), plan_with(&swept, &OPTS).unwrap());

    let images = |p: &JobPlan, corners: bool| -> Vec<String> {
        of_kind(p, ShardKind::ImageEmbedding)
            .into_iter()
            .filter(|s| matches!(spec(s), ShardSpec::ImageEmbedding(i) if i.corners == corners))
            .map(|s| s.id.0.clone())
            .collect()
    };
    // 8 images in shards of 3 rounded up to whole batches of 2 → 2 eval-view
    // shards, and as many corner shards.
    assert_eq!(images(&a, false).len(), 2);
    assert!(images(&a, true).is_empty());
    assert_eq!(images(&b, false), images(&a, false), "eval-view shards are shared with single-crop jobs");
    assert_eq!(images(&b, true).len(), 2);

    let trials: Vec<_> = of_kind(&b, ShardKind::Trial)
        .into_iter()
        .map(|s| match spec(s) {
            ShardSpec::Trial(t) => t,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(trials.len(), 2 * 2 * 2, "Np × crop × seeds");
    for t in &trials {
        let multi = t.config.ends_with(" multi-crop");
        assert_eq!(multi, !t.datasets[0].corner_shards.is_empty(), "{}", t.config);
        if multi {
            let ids: Vec<String> = t.datasets[0].corner_shards.iter().map(|s| s.0.clone()).collect();
            assert_eq!(ids, images(&b, true));
        }
    }
    // Single-crop trials are the very shards the single-crop job plans.
    let single: BTreeSet<_> = of_kind(&a, ShardKind::Trial).into_iter().map(|s| s.id.clone()).collect();
    let b_single: BTreeSet<_> = of_kind(&b, ShardKind::Trial)
        .into_iter()
        .filter(|s| !matches!(spec(s), ShardSpec::Trial(t) if !t.datasets[0].corner_shards.is_empty()))
        .map(|s| s.id.clone())
        .collect();
    assert_eq!(single, b_single);
}

#[test]
fn paper_example_parses_and_plans() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/paper.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let synth_spec = SynthSpec { train_good: 4, image_size: 64, ..Default::default() };
    let trees = [("../data/mvtec_anomaly_detection", "mvtec"), ("../data/VisA_20220922", "visa"), ("../data/sewer-ml", "sewer")];
    let mut text = text;
    for (placeholder, name) in trees {
        let root = dir.path().join(name);
        match name {
            "mvtec" => synth::write(&root, &synth_spec).unwrap(),
            "visa" => synth::write_visa(&root, &synth_spec).unwrap(),
            _ => synth::write_sewer_ml(&root, &synth_spec).unwrap(),
        };
        text = text.replace(placeholder, root.to_str().unwrap());
    }
    let weights = dir.path().join("w.safetensors");
    std::fs::write(&weights, b"dummy").unwrap();
    let text = text.replace("../weights/ViT-B-16-plus-240-laion400m_e32.safetensors", weights.to_str().unwrap());
    let job = Job::parse(&text, &dir.path().join("paper.toml")).unwrap();
    let p = rwclip_plan::plan(&job).unwrap();
    // 6 Np × 17 word pairs × multi-crop off/on × 10 seeds; one FNN per trial
    // is scored on all three datasets.
    let trials: Vec<TrialSpec> = of_kind(&p, ShardKind::Trial).iter().map(|s| match spec(s) {
        ShardSpec::Trial(t) => t,
        other => panic!("{other:?}"),
    }).collect();
    assert_eq!(trials.len(), 6 * 17 * 2 * 10);
    let names: Vec<&str> = trials[0].datasets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["MVTec-AD", "VisA", "Sewer-ML"]);
    assert_eq!(trials.iter().filter(|t| !t.datasets[0].corner_shards.is_empty()).count(), trials.len() / 2, "multi-crop off and on");
    // MVTec-AD and VisA draw 1, 2 and 4 references per category and seed; Sewer-ML has none.
    let setups = |d: &rwclip_plan::TrialDataset| d.setups.iter().map(|s| s.label()).collect::<Vec<_>>();
    assert_eq!(setups(&trials[0].datasets[0]), ["object-unknown", "object-known", "1-shot", "2-shot", "4-shot"]);
    assert_eq!(setups(&trials[0].datasets[2]), ["object-unknown", "object-known"]);
    for d in &trials[0].datasets[..2] {
        assert_eq!(d.references.len(), 3 * synth_spec.categories.len(), "{}", d.name);
        assert!(d.references.iter().all(|r| r.paths.len() == r.shots as usize));
        assert!(!d.reference_shards.is_empty());
    }
    assert!(trials[0].datasets[2].references.is_empty() && trials[0].datasets[2].reference_shards.is_empty());
    // Largest Np 50,000 in blocks of 2,048 pairs: 25 blocks per seed × word pair.
    assert_eq!(of_kind(&p, ShardKind::TextEmbedding).len(), 25 * 17 * 10);
    assert!(p.shards[0].model_key.as_deref().unwrap().starts_with("ViT-B-16-plus-240@"));
}

#[test]
fn maps_add_window_shards_shared_by_every_trial_and_keep_other_ids() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let plain = job(dir.path(), "pairs = [8, 16]", "");
    let mut with_maps = plain.clone();
    with_maps.spec.scoring.maps = vec!["winclip".parse().unwrap(), "ours".parse().unwrap()];
    let (a, b) = (plan_with(&plain, &OPTS).unwrap(), plan_with(&with_maps, &OPTS).unwrap());
    let windows: Vec<&PlannedShard> = b.shards.iter().filter(|s| matches!(spec(s), ShardSpec::WindowEmbedding(_))).collect();
    assert!(a.shards.iter().all(|s| !matches!(spec(s), ShardSpec::WindowEmbedding(_))), "no window shard without maps");
    // 8 test images, a window shard per batch-rounded quarter of an image shard (1 → 2 images).
    assert_eq!(windows.len(), 4);
    let covered: Vec<u64> = windows
        .iter()
        .flat_map(|s| match spec(s) {
            ShardSpec::WindowEmbedding(w) => (w.first_image..w.first_image + w.images.len() as u64).collect::<Vec<_>>(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(covered, (0..8).collect::<Vec<u64>>(), "every test image once, in order");
    assert!(windows.iter().all(|s| s.id.0.starts_with("window-") && s.model_key.is_some()));
    // Zero-shot only: no patch tokens, no reference windows.
    assert!(windows.iter().all(|s| matches!(spec(s), ShardSpec::WindowEmbedding(w) if !w.patch_tokens && w.scales == [2, 3])));
    // Embedding shards keep their ids; every trial (both Np, both seeds) reads the same windows.
    let ids = |p: &JobPlan, kind: ShardKind| -> BTreeSet<String> { p.shards.iter().filter(|s| s.kind == kind && !s.id.0.starts_with("window-")).map(|s| s.id.0.clone()).collect() };
    assert_eq!(ids(&a, ShardKind::ImageEmbedding), ids(&b, ShardKind::ImageEmbedding));
    assert_eq!(ids(&a, ShardKind::TextEmbedding), ids(&b, ShardKind::TextEmbedding));
    let trials = of_kind(&b, ShardKind::Trial);
    assert_eq!(trials.len(), 4);
    for t in &trials {
        for w in &windows {
            assert!(t.deps.contains(&w.id), "trial {} depends on {}", t.id, w.id);
        }
    }
    assert!(ids(&a, ShardKind::Trial).is_disjoint(&ids(&b, ShardKind::Trial)), "trials with maps compute more: other ids");
}
