//! Test-time multi-crop end to end on rwclip-tiny: corner-view shards hold
//! the model's embeddings of torchvision-style corner crops, and a multi-crop
//! trial's image scores are the mean over the five views.

use std::path::Path;

use rwclip_artifacts::{ImageEmbeddingRow, ScoreRow};
use rwclip_job::clip_config::ClipConfig;
use rwclip_inputs::synth::{self, SynthSpec};
use rwclip_job::Job;
use rwclip_plan::{plan_with, PlanOptions, ShardSpec};
use rwclip_store::shard_store::{manifest_key, Manifest};
use rwclip_inputs::preprocess::{Corner, Preprocess, View};
use rwclip_engine::blocking_store::BlockingStore;
use rwclip_engine::clip::ClipModel;
use rwclip_engine::embed::{embed_image_views, rows_of, tensor_of};
use rwclip_engine::fnn::Fnn;
use rwclip_engine::shard::ExecContext;
use rwclip_worker::local_plan::run_plan_locally;

fn job(dir: &Path) -> Job {
    let spec = SynthSpec {
        categories: vec!["weave".into()],
        train_good: 0,
        test_good: 3,
        test_defective: 1,
        defect_types: vec!["hole".into(), "stain".into()],
        // Not square and not the model size, so the corners differ.
        image_size: 80,
        seed: 3,
    };
    synth::write(&dir.join("data"), &spec).unwrap();
    let text = "name = \"t\"\noutput = \"out\"\n[model]\npreset = \"rwclip-tiny\"\ndevice = \"cpu\"\n\
                text_batch_size = 4\nimage_batch_size = 2\n[dataset]\nkind = \"mvtec\"\nroot = \"data\"\n\
                [prompts]\npairs = 6\n[training]\nseeds = [0]\n[training.fnn]\nhidden = [8]\nepochs = 1\npairs_per_batch = 4\n\
                [scoring]\ntemperature = 0.01\nsetups = [\"unknown\"]\nobject_word = \"object\"\nmulti_crop = [false, true]\n";
    Job::parse(text, &dir.join("job.toml")).unwrap()
}

fn manifest(store: &BlockingStore, shard: &rwclip_plan::ShardId) -> Manifest {
    serde_json::from_slice(&store.get(&manifest_key(shard)).unwrap()).unwrap()
}

fn part<'a>(m: &'a Manifest, name: &str) -> &'a str {
    m.parts.iter().find(|p| p.ends_with(&format!("/{name}"))).unwrap_or_else(|| panic!("{name} in {:?}", m.parts))
}

#[test]
fn multi_crop_scores_are_the_mean_over_five_views() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let plan = plan_with(&job, &PlanOptions { text_shard_pairs: 8, image_shard_images: 100, ..PlanOptions::default() }).unwrap();
    let store = BlockingStore::open(dir.path().join("out").to_str().unwrap()).unwrap();
    run_plan_locally(&plan, &store, &mut ExecContext::new(tch::Device::Cpu, 1)).unwrap();

    let specs: Vec<ShardSpec> = plan.shards.iter().map(|s| ShardSpec::from_json(&s.spec_json).unwrap()).collect();
    let trial = specs
        .iter()
        .find_map(|s| match s {
            ShardSpec::Trial(t) if !t.datasets[0].corner_shards.is_empty() => Some(t.clone()),
            _ => None,
        })
        .expect("a multi-crop trial");
    assert_eq!(trial.config, "multi-crop");
    let corner_shard = &trial.datasets[0].corner_shards[0];
    let corner_manifest = manifest(&store, corner_shard);
    assert_eq!(corner_manifest.parts.len(), 4, "{:?}", corner_manifest.parts);

    // Corner embeddings are the model's embeddings of the corner crops.
    let model = ClipModel::load(&ClipConfig::preset("rwclip-tiny").unwrap(), None, tch::Device::Cpu).unwrap();
    let pre = Preprocess::openai(model.cfg.vision.image_size as u32);
    let center: Vec<ImageEmbeddingRow> = store.read_rows(part(&manifest(&store, &trial.datasets[0].image_shards[0]), "image_embeddings.parquet")).unwrap();
    let paths: Vec<_> = center.iter().map(|r| job.datasets()[0].local_root().unwrap().join(&r.path)).collect();
    let mut views = vec![center.iter().map(|r| r.embedding.clone()).collect::<Vec<_>>()];
    for corner in Corner::ALL {
        let rows: Vec<ImageEmbeddingRow> = store
            .read_rows(part(&corner_manifest, &format!("image_embeddings-corner-{}.parquet", corner.label())))
            .unwrap();
        let direct = rows_of(&embed_image_views(&model, &pre, &paths, View::Corner(corner), 2, None).unwrap());
        let stored: Vec<Vec<f32>> = rows.iter().map(|r| r.embedding.clone()).collect();
        assert_eq!(stored, direct, "corner {corner:?}");
        assert_ne!(stored, views[0], "corner {corner:?} equals the eval view");
        views.push(stored);
    }

    // s_fnn = mean over the five views of the trained FNN's scores.
    let trial_id = ShardSpec::Trial(trial.clone()).id();
    let trial_manifest = manifest(&store, &trial_id);
    let fnn = Fnn::from_safetensors(&store.get(part(&trial_manifest, "fnn.safetensors")).unwrap(), tch::Device::Cpu).unwrap();
    let dim = views[0][0].len() as i64;
    let per_view: Vec<Vec<f64>> = views
        .iter()
        .map(|v| Vec::<f64>::try_from(fnn.score(&tensor_of(v, dim)).to_kind(tch::Kind::Double)).unwrap())
        .collect();
    let scores: Vec<ScoreRow> = store.read_rows(part(&trial_manifest, "scores-object-unknown.parquet")).unwrap();
    assert_eq!(scores.len(), paths.len());
    for (i, row) in scores.iter().enumerate() {
        let mean = per_view.iter().map(|v| v[i]).sum::<f64>() / 5.0;
        assert!((row.s_fnn - mean).abs() < 1e-12, "{}: {} vs mean {mean}", row.path, row.s_fnn);
        assert!((row.s_combined - (row.s_pr + row.s_fnn)).abs() < 1e-12);
        assert!((row.s_fnn - per_view[0][i]).abs() > 0.0, "{}: multi-crop changed nothing", row.path);
    }
}
