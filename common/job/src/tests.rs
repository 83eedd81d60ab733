//! Parsing, defaults, validation and path resolution of job files.

use std::path::{Path, PathBuf};

use crate::fnn_config::FnnConfig;

use super::*;

const MINIMAL: &str = r#"
name = "t"
output = "out"
[model]
preset = "rwclip-tiny"
[dataset]
kind = "mvtec"
root = "data"
[dataset.synth]
"#;

fn parse(text: &str) -> Result<Job, JobError> {
    Job::parse(text, Path::new("/nonexistent/job.toml"))
}

#[test]
fn minimal_job_gets_paper_defaults() {
    let job = parse(MINIMAL).unwrap();
    assert_eq!(job.spec.prompts.pair_counts(), vec![10_000]);
    assert_eq!(
        job.spec.prompts.word_pairs(),
        vec![WordPair { normal: "a".into(), anomaly: "a damaged".into() }]
    );
    assert_eq!(job.spec.training.seeds, (0..10).collect::<Vec<u64>>());
    assert_eq!(job.spec.training.fnn, FnnConfig::default());
    assert_eq!(job.spec.scoring.temperature, 0.01);
    assert_eq!(job.datasets()[0].local_root().unwrap(), PathBuf::from("/nonexistent/data"));
    assert_eq!(job.output_uri(), "/nonexistent/out");
}

#[test]
fn every_scoring_key_the_readme_gives_a_default_is_optional() {
    let job = parse(&format!("{MINIMAL}\n[scoring]\nsetups = [\"known\"]\n")).unwrap();
    assert_eq!(job.spec.scoring.temperature, 0.01);
    assert_eq!(job.spec.scoring.object_word, "object");
    assert_eq!(job.spec.scoring.multi_crop, BoolGrid::One(false));
    assert_eq!(job.spec.scoring.setups, vec![Setup::Zero(ObjectSetup::Known)]);
    let job = parse(&format!("{MINIMAL}\n[scoring]\n")).unwrap();
    assert_eq!(job.spec.scoring, ScoringSpec::default());
}

#[test]
fn submitted_job_has_absolute_paths_and_parses_back() {
    let job = Job::parse(MINIMAL, Path::new("jobs/job.toml")).unwrap();
    let text = job.to_submitted_toml().unwrap();
    let back = Job::parse_submitted(&text, PathChecks::Skip).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(back.datasets()[0].local_root().unwrap(), cwd.join("jobs/data"));
    assert_eq!(back.output_uri(), cwd.join("jobs/out").to_string_lossy());
    assert_eq!(back.spec.prompts, job.spec.prompts);
}

#[test]
fn submitted_job_with_a_relative_path_names_the_key() {
    let err = Job::parse_submitted(MINIMAL, PathChecks::Skip).unwrap_err().to_string();
    assert!(err.contains("`output`") && err.contains("absolute"), "{err}");
    let text = MINIMAL.replace("output = \"out\"", "output = \"s3://b/out\"");
    let err = Job::parse_submitted(&text, PathChecks::Skip).unwrap_err().to_string();
    assert!(err.contains("`dataset.root`"), "{err}");
}

#[test]
fn s3_weights_pass_through_and_other_schemes_are_refused() {
    let with = |w: &str| MINIMAL.replace("[model]", &format!("[model]\nweights = \"{w}\""));
    let job = parse(&with("s3://models/vit.safetensors")).unwrap();
    assert_eq!(job.weights_uri().as_deref(), Some("s3://models/vit.safetensors"));
    assert_eq!(job.weights_path(), None);
    let back = Job::parse_submitted(&job.to_submitted_toml().unwrap(), PathChecks::Skip).unwrap();
    assert_eq!(back.spec.model.weights.as_deref(), Some("s3://models/vit.safetensors"));
    let err = parse(&with("gs://models/vit.safetensors")).unwrap_err().to_string();
    assert!(err.contains("`model.weights`") && err.contains("gs://"), "{err}");
}

#[test]
fn unknown_key_is_named() {
    let err = parse(&MINIMAL.replace("[model]", "[model]\nweight = \"x\"")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("job.toml") && msg.contains("weight"), "{msg}");
}

#[test]
fn malformed_toml_names_the_file_and_line() {
    let err = parse("name = \"t\"\noutput = \n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("job.toml") && msg.contains("line 2"), "{msg}");
}

#[test]
fn invalid_values_name_their_key() {
    let cases = [
        ("[model]\npreset = \"rwclip-tiny\"", "[model]\npreset = \"ViT-Q-99\"", "model.preset"),
        ("[model]\npreset = \"rwclip-tiny\"", "[model]\npreset = \"rwclip-tiny\"\ndevice = \"tpu\"", "model.device"),
        ("[dataset.synth]", "[dataset.synth]\n[prompts]\npairs = 0\nnormal_word = \"a\"\nanomaly_word = \"a damaged\"\nmin_len = 5\nmax_len = 10", "prompts.pairs"),
        ("[dataset.synth]", "[dataset.synth]\n[scoring]\ntemperature = 0.0\nsetups = [\"unknown\"]\nobject_word = \"object\"", "scoring.temperature"),
        ("output = \"out\"", "output = \"gs://b/x\"", "output"),
        ("[dataset.synth]", "[dataset.synth]\n[training.fnn]\ndropout = 1.5", "training.fnn"),
    ];
    for (from, to, key) in cases {
        let err = parse(&MINIMAL.replace(from, to)).unwrap_err();
        match &err {
            JobError::Invalid { key: k, .. } => assert_eq!(*k, key, "{err}"),
            other => panic!("expected Invalid({key}), got {other}"),
        }
    }
}

#[test]
fn sweep_grids_parse_and_duplicates_name_their_key() {
    let sweep = MINIMAL.replace(
        "[dataset.synth]",
        "[dataset.synth]\n[prompts]\npairs = [1000, 5000]\nword_pairs = [[\"a\", \"a damaged\"], [\"a normal\", \"a broken\"]]",
    );
    let job = parse(&sweep).unwrap();
    assert_eq!(job.spec.prompts.pair_counts(), vec![1000, 5000]);
    assert_eq!(job.spec.prompts.word_pairs()[1].anomaly, "a broken");
    let cases = [
        ("[1000, 5000]", "[1000, 1000]", "prompts.pairs"),
        ("[1000, 5000]", "[]", "prompts.pairs"),
        ("[\"a normal\", \"a broken\"]", "[\"a\", \"a damaged\"]", "prompts.word_pairs"),
        ("word_pairs = [[\"a\", \"a damaged\"], [\"a normal\", \"a broken\"]]", "word_pairs = []", "prompts.word_pairs"),
        ("word_pairs =", "normal_word = \"a\"\nword_pairs =", "prompts.word_pairs"),
    ];
    for (from, to, key) in cases {
        let err = parse(&sweep.replace(from, to)).unwrap_err();
        match &err {
            JobError::Invalid { key: k, .. } => assert_eq!(*k, key, "{err}"),
            other => panic!("expected Invalid({key}), got {other}"),
        }
    }
    let dup_setup = MINIMAL.replace(
        "[dataset.synth]",
        "[dataset.synth]\n[scoring]\ntemperature = 0.01\nsetups = [\"known\", \"known\"]\nobject_word = \"object\"",
    );
    assert!(parse(&dup_setup).unwrap_err().to_string().contains("scoring.setups"));
}

#[test]
fn path_checks_can_be_skipped() {
    let text = MINIMAL.replace("[dataset.synth]\n", "").replace("[model]", "[model]\nweights = \"w.safetensors\"");
    assert!(parse(&text).is_err());
    Job::parse_with(&text, Path::new("/nonexistent/job.toml"), PathChecks::Skip).unwrap();
}

#[test]
fn missing_dataset_without_synth_is_an_error() {
    let err = parse(&MINIMAL.replace("[dataset.synth]\n", "")).unwrap_err();
    assert!(err.to_string().contains("dataset.root"), "{err}");
}

#[test]
fn relative_paths_resolve_against_the_job_file() {
    let job = Job::parse(MINIMAL, Path::new("jobs/job.toml")).unwrap();
    assert_eq!(job.resolve("../runs/x"), PathBuf::from("runs/x"));
    assert_eq!(job.resolve("./d/../e"), PathBuf::from("jobs/e"));
    assert_eq!(job.resolve("/abs/p"), PathBuf::from("/abs/p"));
    let job = Job::parse(MINIMAL, Path::new("job.toml")).unwrap();
    assert_eq!(job.resolve("../up"), PathBuf::from("../up"));
}

#[test]
fn device_names() {
    assert_eq!(parse_device_name("cuda:3"), Ok(DeviceName::Cuda(3)));
    assert_eq!(parse_device_name("cpu"), Ok(DeviceName::Cpu));
    assert!(parse_device_name("cuda:x").is_err());
}

const HEAD: &str = "name = \"t\"\noutput = \"out\"\n[model]\npreset = \"rwclip-tiny\"\n";

fn datasets(tables: &str) -> Result<Job, JobError> {
    Job::parse_with(&format!("{HEAD}{tables}"), Path::new("/jobs/job.toml"), PathChecks::Skip)
}

#[test]
fn datasets_are_a_list_with_names_and_kind_specific_keys() {
    let job = datasets(
        "[[datasets]]\nkind = \"mvtec\"\nroot = \"s3://b/mvtec\"\n\
         [[datasets]]\nname = \"VisA 2022\"\nkind = \"visa\"\nroot = \"visa\"\ncategories = [\"candle\"]\n\
         [[datasets]]\nkind = \"sewer-ml\"\nroot = \"/data/sewer\"\nimages = \"frames\"\nsetups = [\"unknown\"]\n\
         [[datasets]]\nkind = \"manifest\"\nfile = \"lists/night.csv\"\n",
    )
    .unwrap();
    let d = job.datasets();
    let names: Vec<String> = d.iter().map(|d| d.name()).collect();
    assert_eq!(names, ["MVTec-AD", "VisA 2022", "Sewer-ML", "night"]);
    assert_eq!(d[0].root, Some(Location::parse("s3://b/mvtec")));
    assert_eq!(d[1].local_root(), Some(Path::new("/jobs/visa")));
    assert_eq!(d[3].store_uri_and_file(), ("/jobs/lists".to_string(), Some("night.csv".to_string())));
    assert_eq!(d[0].store_uri_and_file(), ("s3://b/mvtec".to_string(), None));
    // Submitted jobs keep URLs and make local paths absolute.
    let back = Job::parse_submitted(&job.to_submitted_toml().unwrap(), PathChecks::Skip).unwrap();
    assert_eq!(back.datasets()[3].file, Some(Location::parse("/jobs/lists/night.csv")));
    assert_eq!(back.datasets()[0].root, Some(Location::parse("s3://b/mvtec")));

    let err = |tables: &str| datasets(tables).unwrap_err().to_string();
    let mvtec = "[[datasets]]\nkind = \"mvtec\"\nroot = \"a\"\n";
    assert!(err(&format!("{mvtec}{mvtec}")).contains("`datasets[1].name` \"MVTec-AD\" is used by two datasets"));
    assert!(err("[[datasets]]\nkind = \"manifest\"\nroot = \"a\"\n").contains("`datasets[0].file` is required"));
    assert!(err("[[datasets]]\nkind = \"visa\"\n").contains("`datasets[0].root` is required"));
    assert!(err("[[datasets]]\nkind = \"mvtec\"\nroot = \"a\"\nimages = \"x\"\n").contains("`datasets[0].images` is only for kind = \"sewer-ml\""));
    assert!(err("[[datasets]]\nkind = \"visa\"\nroot = \"a\"\nsplit = \"val\"\n").contains("`datasets[0].split` is \"val\"; visa has the splits test, train"));
    assert!(err("[[datasets]]\nkind = \"mvtec\"\nroot = \"gs://b/x\"\n").contains("`datasets[0].root` has unsupported scheme `gs://`"));
    assert!(err("[[datasets]]\nkind = \"coco\"\nroot = \"a\"\n").contains("coco"));
    assert!(err("").contains("`datasets` is missing"));
    assert!(err(&format!("[dataset]\nkind = \"mvtec\"\nroot = \"a\"\n{mvtec}")).contains("cannot be combined with [dataset]"));
    let few_shot_sewer = "[[datasets]]\nkind = \"sewer-ml\"\nroot = \"a\"\n[scoring]\nsetups = [\"unknown\", \"2-shot\"]\n";
    assert!(err(few_shot_sewer).contains("`datasets[0].setups` 2-shot needs normal reference images"), "{}", err(few_shot_sewer));
    assert!(err("[[datasets]]\nkind = \"mvtec\"\nroot = \"a\"\n[scoring]\nsetups = [\"3-shots\"]\n").contains("3-shots"));
}

#[test]
fn sentences_are_read_at_load_sent_inline_and_never_read_by_the_coordinator() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.txt"), "a photo of a cracked tile\n\n  a clean floor  \n").unwrap();
    let text = format!("{MINIMAL}\n[plots]\nsentences = \"s.txt\"\n");
    let job = Job::parse_with(&text, &dir.path().join("job.toml"), PathChecks::Skip).unwrap();
    assert_eq!(job.sentences().unwrap(), ["a photo of a cracked tile", "a clean floor"]);
    let submitted = job.to_submitted_toml().unwrap();
    assert!(!submitted.contains("s.txt"), "{submitted}");
    let back = Job::parse_submitted(&submitted, PathChecks::Skip).unwrap();
    assert_eq!(back.sentences().unwrap(), ["a photo of a cracked tile", "a clean floor"]);
    // A submitted job naming a file is refused before anything is read.
    let err = Job::parse_submitted("name = \"x\"\noutput = \"/o\"\n[model]\npreset = \"rwclip-tiny\"\n[plots]\nsentences = \"/etc/passwd\"\n", PathChecks::Check).unwrap_err().to_string();
    assert!(err.contains("plots.sentences") && err.contains("sentence_lines"), "{err}");
    // Too long a line names the file and line.
    std::fs::write(dir.path().join("s.txt"), format!("ok\n{}\n", "x".repeat(301))).unwrap();
    let err = job.sentences().unwrap_err().to_string();
    assert!(err.contains("s.txt line 2") && err.contains("300"), "{err}");
}
