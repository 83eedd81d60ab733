//! The coordinator's HTTP side with real processes: a coordinator serving
//! `--http-bind`, a worker, headless Chromium (Debian's) on the dashboard,
//! and prometheus_client's parser on `/metrics`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rwclip_test_support::cluster::Cluster;
use rwclip_test_support::tiny_job::TinyJob;
use rwclip_test_support::{browser, http, python};
use serde_json::Value;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rwclip"))
}

/// Where screenshots are kept after the test (for people to look at).
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `<li>` entries of the page's `#seen` list: each distinct view of the
/// selected job the page showed, without a reload.
fn seen(dom: &str) -> Vec<String> {
    let list = dom.split("<ol id=\"seen\"").nth(1).and_then(|s| s.split("</ol>").next()).unwrap_or("");
    list.split("<li>").skip(1).map(|s| s.split("</li>").next().unwrap_or("").to_string()).collect()
}

fn metrics(cluster: &Cluster) -> Value {
    let auth = format!("Bearer {}", cluster.token);
    let r = http::get(&cluster.http_addr(), "/metrics", &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/plain; version=0.0.4")), "{:?}", r.headers);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/python/parse_metrics.py");
    let out = std::process::Command::new(python::python())
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(r.body.as_bytes())?;
            child.wait_with_output()
        })
        .expect("run the parser");
    assert!(out.status.success(), "prometheus_client could not parse /metrics:\n{}\n{}", String::from_utf8_lossy(&out.stderr), r.body);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(families: &Value, family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let samples = families[family]["samples"].as_array().unwrap_or_else(|| panic!("no family {family}: {families}"));
    samples
        .iter()
        .find(|s| s[0] == name && labels.iter().all(|(k, v)| s[1][k] == *v))
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in {family}: {samples:?}"))[2]
        .as_f64()
        .unwrap()
}

#[test]
fn without_the_token_no_job_data_is_served_and_healthz_answers() {
    let work = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(bin(), work.path().join("store").to_str().unwrap(), &[]);
    let addr = cluster.http_addr();
    assert_eq!(http::get(&addr, "/healthz", &[]).body, "ok\n");
    for path in ["/api/jobs", "/api/workers", "/api/jobs/anything", "/metrics"] {
        let r = http::get(&addr, path, &[]);
        assert_eq!(r.status, 401, "{path} without a token: {}", r.body);
        let r = http::get(&addr, path, &[("Authorization", "Bearer not-the-token")]);
        assert_eq!(r.status, 401, "{path} with a wrong token: {}", r.body);
        let r = http::get(&addr, path, &[("Cookie", "rwclip_token=not-the-token")]);
        assert_eq!(r.status, 401, "{path} with a wrong cookie: {}", r.body);
    }
    let page = http::get(&addr, "/", &[]);
    assert_eq!((page.status, page.header("location")), (303, Some("/login")), "the dashboard sends a browser to log in");
    assert!(!page.body.contains("rwclip_"), "{}", page.body);
    // A wrong token at the login form sets no cookie.
    let r = http::request(&addr, "POST", "/login", &[("Content-Type", "application/x-www-form-urlencoded")], "token=nope");
    assert_eq!(r.status, 401);
    assert!(r.header("set-cookie").is_none());
    // The right one does, and the cookie opens the API.
    let r = http::request(&addr, "POST", "/login", &[("Content-Type", "application/x-www-form-urlencoded")], &format!("token={}", cluster.token));
    assert_eq!((r.status, r.header("location")), (303, Some("/")));
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    assert_eq!(http::get(&addr, "/api/jobs", &[("Cookie", &cookie)]).body, "{\"jobs\":[]}");
    let auth = format!("Bearer {}", cluster.token);
    assert_eq!(http::get(&addr, "/api/jobs/job-unknown", &[("Authorization", &auth)]).status, 404);
}

#[test]
fn metrics_parse_as_prometheus_text_and_move_as_a_job_runs() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(bin(), work.path().join("store").to_str().unwrap(), &[]);
    let job = TinyJob::small("metrics", work.path().join("out").to_str().unwrap(), &work.path().join("data")).write(work.path());
    let id = cluster.submit(&job);
    let before = metrics(&cluster);
    let types: Vec<(&str, &str)> = vec![
        ("rwclip_jobs", "gauge"),
        ("rwclip_shards", "gauge"),
        ("rwclip_job_shards", "gauge"),
        ("rwclip_workers_connected", "gauge"),
        ("rwclip_worker_capacity", "gauge"),
        ("rwclip_worker_shards_held", "gauge"),
        ("rwclip_images", "counter"),
        ("rwclip_prompts", "counter"),
        ("rwclip_store_errors", "counter"),
        ("rwclip_lease_seconds", "histogram"),
        ("rwclip_complete_seconds", "histogram"),
    ];
    for (family, kind) in &types {
        assert_eq!(before[family]["type"], *kind, "{family}: {}", before[family]);
    }
    assert_eq!(sample(&before, "rwclip_jobs", "rwclip_jobs", &[("state", "running")]), 1.0);
    assert_eq!(sample(&before, "rwclip_workers_connected", "rwclip_workers_connected", &[]), 0.0);
    assert_eq!(sample(&before, "rwclip_lease_seconds", "rwclip_lease_seconds_count", &[]), 0.0);
    let pending = sample(&before, "rwclip_shards", "rwclip_shards", &[("stage", "text"), ("state", "pending")]);
    assert!(pending >= 1.0, "text shards wait for a worker");
    assert_eq!(sample(&before, "rwclip_job_shards", "rwclip_job_shards", &[("job", &id), ("state", "committed")]), 0.0);

    cluster.add_worker();
    cluster.wait_succeeded(&id, Duration::from_secs(240));
    let after = metrics(&cluster);
    assert_eq!(sample(&after, "rwclip_jobs", "rwclip_jobs", &[("state", "succeeded")]), 1.0);
    assert_eq!(sample(&after, "rwclip_jobs", "rwclip_jobs", &[("state", "running")]), 0.0);
    assert_eq!(sample(&after, "rwclip_workers_connected", "rwclip_workers_connected", &[]), 1.0);
    let leases = sample(&after, "rwclip_lease_seconds", "rwclip_lease_seconds_count", &[]);
    let inf = sample(&after, "rwclip_lease_seconds", "rwclip_lease_seconds_bucket", &[("le", "+Inf")]);
    assert!(leases >= 1.0 && inf == leases, "lease latencies recorded: {leases}, +Inf bucket {inf}");
    assert!(sample(&after, "rwclip_complete_seconds", "rwclip_complete_seconds_count", &[]) >= 1.0);
    let committed = sample(&after, "rwclip_job_shards", "rwclip_job_shards", &[("job", &id), ("state", "committed")]);
    let total: f64 = ["committed", "running", "failed", "pending"].iter().map(|s| sample(&after, "rwclip_job_shards", "rwclip_job_shards", &[("job", &id), ("state", s)])).sum();
    assert_eq!(committed, total, "every shard committed");
    assert!(sample(&after, "rwclip_prompts", "rwclip_prompts_total", &[]) > 0.0, "prompts counted");
    assert!(sample(&after, "rwclip_images", "rwclip_images_total", &[]) > 0.0, "images counted");
    assert_eq!(sample(&after, "rwclip_store_errors", "rwclip_store_errors_total", &[]), 0.0);
}

#[test]
fn the_dashboard_shows_a_job_progressing_live_then_its_results_in_headless_chromium() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(bin(), work.path().join("store").to_str().unwrap(), &[]);
    let job = TinyJob::small("dashboard", work.path().join("out").to_str().unwrap(), &work.path().join("data")).write(work.path());
    let id = cluster.submit(&job);
    let base = format!("http://{}", cluster.http_addr());
    let login = format!("{base}/login?token={}", cluster.token);

    // One page load watches the job from before any worker to its end: the
    // page updates itself, its #seen list records what it showed.
    let watching = {
        let login = login.clone();
        std::thread::spawn(move || browser::run(&login, 1_500_000, None))
    };
    std::thread::sleep(Duration::from_millis(800));
    cluster.add_worker();
    let dom = watching.join().expect("the browser ran");
    let views = seen(&dom);
    assert!(views.len() >= 2, "the page showed one view only, so it did not update itself: {views:?}\n{dom}");
    assert!(views[0].starts_with(&format!("{id} running")), "{views:?}");
    assert!(views.iter().all(|v| v.starts_with(&id)), "{views:?}");
    cluster.wait_succeeded(&id, Duration::from_secs(240));

    // A finished job: its state and its result tables on the page.
    let dom = browser::run(&login, 30_000, None);
    assert!(dom.contains("id=\"job-state\">succeeded"), "{dom}");
    assert!(dom.contains("<table class=\"results\">"), "no results table: {dom}");
    assert!(dom.contains("AUROC"), "{dom}");
    // The job's figures are shown: each <img> loaded its SVG.
    let figures = dom.matches(&format!("src=\"/api/jobs/{id}/figures/")).count();
    assert!(figures >= 3, "the ROC, PR and histogram figures: {figures} images\n{dom}");
    assert_eq!(dom.matches("data-loaded=\"1\"").count(), figures, "every figure loaded: {dom}");
    let auth = format!("Bearer {}", cluster.token);
    let roc = http::get(&cluster.http_addr(), &format!("/api/jobs/{id}/figures/roc-mvtec-ad.svg"), &[("Authorization", &auth)]);
    assert_eq!((roc.status, roc.header("content-type")), (200, Some("image/svg+xml")));
    assert!(roc.body.contains("<svg"));
    assert_eq!(http::get(&cluster.http_addr(), &format!("/api/jobs/{id}/figures/roc-mvtec-ad.svg"), &[]).status, 401);
    assert_eq!(http::get(&cluster.http_addr(), &format!("/api/jobs/{id}/figures/..%2Fjob.toml"), &[("Authorization", &auth)]).status, 404, "only published figures");
    assert!(dom.contains("local-worker") || dom.contains("-worker"), "the worker is listed: {dom}");
    let shot = artifacts().join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    browser::run(&login, 30_000, Some(&shot));
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let pixels = rwclip_inputs::preprocess::Preprocess::openai(224)
        .load_bytes_views(&png, &shot.display().to_string(), &[rwclip_inputs::preprocess::View::Center])
        .expect("the screenshot decodes")
        .remove(0);
    let mean = pixels.iter().sum::<f32>() / pixels.len() as f32;
    let var = pixels.iter().map(|p| (p - mean).powi(2)).sum::<f32>() / pixels.len() as f32;
    assert!(var > 1e-3, "the screenshot is blank (variance {var})");
    eprintln!("dashboard screenshot: {}", shot.display());
}

#[test]
fn a_scoring_jobs_distribution_and_contact_sheet_are_shown_on_the_dashboard() {
    use rwclip_inputs::synth::{self, SynthSpec};
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let spec = SynthSpec { categories: vec!["weave".into()], train_good: 0, test_good: 3, test_defective: 2, image_size: 64, ..SynthSpec::default() };
    synth::write(&d.join("data"), &spec).unwrap();
    let train = std::process::Command::new(bin())
        .args(["train", "--model", "rwclip-tiny", "--pairs", "128", "--seed", "1", "--device", "cpu", "--out", "detector.safetensors"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let job = d.join("score.toml");
    std::fs::write(
        &job,
        format!(
            "kind = \"score\"\nname = \"dashboard-scoring\"\noutput = \"{}\"\ndetector = \"{}\"\ninput = \"{}\"\ntop_k = 4\n[model]\ndevice = \"cpu\"\nimage_batch_size = 4\n",
            d.join("out").display(),
            d.join("detector.safetensors").display(),
            d.join("data/weave/test").display()
        ),
    )
    .unwrap();
    let mut cluster = Cluster::start(bin(), d.join("store").to_str().unwrap(), &[]);
    let id = cluster.submit(&job);
    cluster.add_worker();
    cluster.wait_succeeded(&id, Duration::from_secs(240));
    let login = format!("http://{}/login?token={}", cluster.http_addr(), cluster.token);
    let dom = browser::run(&login, 30_000, None);
    assert!(dom.contains("id=\"job-state\">succeeded"), "{dom}");
    for figure in ["score_distribution.svg", "contact_sheet.svg"] {
        assert!(dom.contains(&format!("src=\"/api/jobs/{id}/figures/{figure}\"")), "{figure} is not on the page: {dom}");
    }
    let figures = dom.matches(&format!("src=\"/api/jobs/{id}/figures/")).count();
    assert_eq!(dom.matches("data-loaded=\"1\"").count(), figures, "every figure loaded: {dom}");
    let shot = artifacts().join("dashboard-scoring.png");
    let _ = std::fs::remove_file(&shot);
    browser::run(&login, 30_000, Some(&shot));
    assert!(std::fs::read(&shot).expect("the screenshot was written").starts_with(b"\x89PNG"));
    std::fs::copy(d.join("out/contact_sheet.png"), artifacts().join("contact_sheet.png")).unwrap();
    eprintln!("scoring dashboard screenshot: {}", shot.display());
}
