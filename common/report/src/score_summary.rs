//! The end of a scoring job: `top_k.csv` and `summary.json` over every
//! shard's rows (read one shard at a time), and publishing: each shard's
//! rows become one file of `scores/`, readable together by pyarrow and
//! DuckDB (`read_parquet('…/scores/*.parquet')`).

use std::fmt::Write;

use bytes::Bytes;

use crate::aggregate::{AggregateError, PublishedResults};
use rwclip_scoring::row_error::error_kind;
use rwclip_scoring::top_k::{committed_deps, TopK};
use rwclip_artifacts::{ImageScoreRow, Store};
use rwclip_plan::{AttemptId, ScoreSummarySpec, ShardId, ShardKind, ShardSpec};
use rwclip_store::shard_store::{self, attempt_prefix, part, Manifest};

pub use crate::score_report::QUANTILES;

/// Quantile `q` of sorted values (linear interpolation, numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Writes `top_k.csv`, `summary.json`, `results.md` and the figures under
/// `prefix`; returns their keys.
pub async fn write_summary_parts(store: &Store, id: &ShardId, spec: &ScoreSummarySpec, prefix: &str) -> Result<Vec<String>, AggregateError> {
    let manifests = committed_deps(store, id, &spec.shards).await?;
    let mut top = TopK::new(spec.top_k);
    // Scores are kept as f32 for the quantiles: 4 bytes per scored image.
    let mut scores: Vec<f32> = Vec::new();
    let (mut rows, mut failed, mut inputs) = (0u64, 0u64, 0u64);
    let mut errors: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut videos = rwclip_scoring::videos::VideoTables::default();
    // The shards each video's rows are in, to read its curve again.
    let mut spans: std::collections::HashMap<String, (usize, usize)> = std::collections::HashMap::new();
    for (mi, m) in manifests.iter().enumerate() {
        for r in rwclip_artifacts::read_part::<ImageScoreRow>(store, m, part::IMAGE_SCORES).await? {
            if r.at.is_some() {
                match spans.get_mut(&r.uri) {
                    Some(span) => span.1 = mi,
                    None => {
                        spans.insert(r.uri.clone(), (mi, mi));
                    }
                }
            }
            let row = rows;
            rows += 1;
            if videos.offer(&r) {
                inputs += 1;
            }
            match r.score {
                Some(score) => {
                    scores.push(score as f32);
                    top.offer(row, score, r);
                }
                None => {
                    failed += 1;
                    *errors.entry(error_kind(r.error.as_deref().unwrap_or("")).to_string()).or_default() += 1;
                }
            }
        }
    }
    // The plan counted input rows: a video is one, however many frames.
    if inputs != spec.rows {
        return Err(AggregateError::RowCount { aggregate: id.clone(), expected: spec.rows, found: inputs });
    }
    let videos = videos.finish();
    let top = top.into_ranked();
    let mut csv = String::from("rank,uri,score,s_fnn,s_pr,frame,pts_s,distance_m\n");
    for (rank, t) in top.iter().enumerate() {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let f = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let frame = t.at.and_then(|a| a.frame).map(|f| f.to_string()).unwrap_or_default();
        let _ = writeln!(csv, "{},{},{},{},{},{},{},{}", rank + 1, quote(&t.uri), f(t.score), f(t.s_fnn), f(t.s_pr), frame, f(t.at.map(|a| a.pts_s)), f(t.at.and_then(|a| a.distance_m)));
    }
    scores.sort_by(f32::total_cmp);
    let sorted: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
    let quantiles = if sorted.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::Value::Object(QUANTILES.iter().map(|(n, q)| (n.to_string(), serde_json::json!(quantile(&sorted, *q)))).collect())
    };
    let summary = serde_json::json!({
        "title": spec.title,
        "rows": rows,
        "scored": rows - failed,
        "failed": failed,
        "errors": errors,
        "score_quantiles": quantiles,
        "top_k": top.len(),
        "shards": spec.shards.len(),
    });
    let mut summary = summary;
    if !videos.is_empty() {
        let mut ranked: Vec<&rwclip_artifacts::VideoRow> = videos.iter().collect();
        ranked.sort_by(|a, b| b.max_score.unwrap_or(f64::NEG_INFINITY).total_cmp(&a.max_score.unwrap_or(f64::NEG_INFINITY)));
        summary["videos"] = serde_json::json!({
            "count": videos.len(),
            "frames_scored": videos.iter().map(|v| v.frames_scored).sum::<u64>(),
            "with_errors": videos.iter().filter(|v| v.errors > 0).count(),
            "top": ranked.iter().take(rwclip_scoring::videos::SUMMARY_VIDEOS).collect::<Vec<_>>(),
        });
    }
    let pretty = serde_json::to_string_pretty(&summary).expect("json");
    let mut files = vec![(part::TOP_K_CSV.to_string(), Bytes::from(csv)), (part::SUMMARY_JSON.to_string(), Bytes::from(pretty.clone()))];
    if !videos.is_empty() {
        let bytes = rwclip_artifacts::to_parquet(&videos).map_err(|e| AggregateError::Corrupt { what: part::VIDEOS.to_string(), message: e.to_string() })?;
        files.push((part::VIDEOS.to_string(), bytes));
    }
    // Sampled evenly from the sorted scores: a bounded histogram input
    // however long the archive.
    let step = sorted.len().div_ceil(100_000).max(1);
    let sample: Vec<f64> = sorted.iter().step_by(step).copied().collect();
    let mut figures = Vec::new();
    if !sample.is_empty() {
        figures.push(crate::figures::distribution_figure(&sample).map_err(|message| AggregateError::Plot { aggregate: id.clone(), figure: "the score distribution".to_string(), message })?);
    }
    if let Some(sheet) = &spec.contact_sheet {
        figures.push(contact_sheet_figure(store, id, sheet).await?);
    }
    for (rank, curve) in video_curves(store, &manifests, &videos, &spans).await?.iter().enumerate() {
        figures.push(crate::figures::score_over_time_figure(rank + 1, curve).map_err(|message| AggregateError::Plot { aggregate: id.clone(), figure: format!("the score over time of {}", curve.video), message })?);
    }
    let markdown = crate::score_report::scoring_markdown(&summary, &top);
    files.push((part::RESULTS_MD.to_string(), Bytes::from(markdown.clone())));
    if !figures.is_empty() {
        files.push((part::RESULTS_HTML.to_string(), Bytes::from(crate::html::results_html(&spec.title, &markdown, &figures))));
    }
    for figure in figures {
        files.push((format!("{}.svg", figure.name), Bytes::from(figure.svg)));
        files.push((format!("{}.png", figure.name), Bytes::from(figure.png)));
    }
    let mut keys = Vec::new();
    for (name, bytes) in files {
        let key = format!("{prefix}{name}");
        store.put(&key, bytes).await?;
        keys.push(key);
    }
    Ok(keys)
}

/// Videos drawn as a score-over-time figure: the best few.
pub const CURVE_VIDEOS: usize = 3;

/// The score over time of the [`CURVE_VIDEOS`] videos with the highest
/// scores, read again from the shards that hold them.
async fn video_curves(
    store: &Store,
    manifests: &[Manifest],
    videos: &[rwclip_artifacts::VideoRow],
    spans: &std::collections::HashMap<String, (usize, usize)>,
) -> Result<Vec<rwclip_figures::ScoreOverTime>, AggregateError> {
    let mut best: Vec<&rwclip_artifacts::VideoRow> = videos.iter().filter(|v| v.max_score.is_some()).collect();
    best.sort_by(|a, b| b.max_score.unwrap_or(0.0).total_cmp(&a.max_score.unwrap_or(0.0)));
    let mut curves = Vec::new();
    for v in best.into_iter().take(CURVE_VIDEOS) {
        let Some(&(first, last)) = spans.get(&v.uri) else { continue };
        let mut points = Vec::new();
        for m in &manifests[first..=last] {
            for r in rwclip_artifacts::read_part::<ImageScoreRow>(store, m, part::IMAGE_SCORES).await? {
                if let (true, Some(at), Some(score)) = (r.uri == v.uri, r.at, r.score) {
                    points.push((at.pts_s, score));
                }
            }
        }
        let peaks = v.moments.iter().map(|m| (m.at_s, m.score)).collect();
        curves.push(rwclip_figures::ScoreOverTime::new(v.uri.clone(), points, peaks));
    }
    Ok(curves)
}

/// The committed contact sheet `sheet`'s figure, which the summary publishes.
async fn contact_sheet_figure(store: &Store, reader: &ShardId, sheet: &ShardId) -> Result<rwclip_figures::Figure, AggregateError> {
    let manifest = committed_deps(store, reader, std::slice::from_ref(sheet)).await?.remove(0);
    let key = |ext: &str| shard_store::part_key(store, &manifest, &format!("{}.{ext}", part::CONTACT_SHEET));
    let (svg_key, png_key) = (key("svg")?, key("png")?);
    let svg = String::from_utf8(store.get(&svg_key).await?.to_vec()).map_err(|e| AggregateError::Corrupt { what: store.full_uri(&svg_key), message: e.to_string() })?;
    let png = store.get(&png_key).await?.to_vec();
    Ok(rwclip_figures::Figure { name: part::CONTACT_SHEET.to_string(), title: rwclip_figures::CONTACT_SHEET_TITLE.to_string(), svg, png })
}

/// Runs the summary as attempt `attempt` and commits it (first commit wins).
pub async fn run_score_summary(store: &Store, spec: &ScoreSummarySpec, attempt: &AttemptId, worker: &str) -> Result<Manifest, AggregateError> {
    let shard_spec = ShardSpec::ScoreSummary(spec.clone());
    let id = shard_spec.id();
    if let Some(done) = shard_store::committed(store, &id).await? {
        return Ok(done);
    }
    let parts = write_summary_parts(store, &id, spec, &attempt_prefix(&id, attempt)).await?;
    let spec_json = serde_json::to_value(&shard_spec).expect("shard specs are plain data and always serialise");
    Ok(shard_store::commit(store, &id, ShardKind::Aggregate, spec_json, attempt, worker, parts).await?)
}

/// Publishes a finished scoring job to `output`: `scores/part-NNNNNN.parquet`
/// (one per shard, input order), `top_k.csv`, `summary.json` and
/// `results.md` with the wall time and rate added, the figures and
/// `results.html`, and `job.toml`.
pub async fn publish_scores(store: &Store, summary: &Manifest, spec: &ScoreSummarySpec, output: &Store, job_toml: &str, wall_s: f64) -> Result<PublishedResults, AggregateError> {
    let manifests = committed_deps(store, &summary.shard, &spec.shards).await?;
    for (i, m) in manifests.iter().enumerate() {
        let bytes = store.get(&shard_store::part_key(store, m, part::IMAGE_SCORES)?).await?;
        output.put(&format!("scores/part-{i:06}.parquet"), bytes).await?;
    }
    let top_k = store.get(&shard_store::part_key(store, summary, part::TOP_K_CSV)?).await?;
    output.put(part::TOP_K_CSV, top_k).await?;
    if let Ok(key) = shard_store::part_key(store, summary, part::VIDEOS) {
        output.put(part::VIDEOS, store.get(&key).await?).await?;
    }
    let text = store.get(&shard_store::part_key(store, summary, part::SUMMARY_JSON)?).await?;
    let mut json: serde_json::Value = serde_json::from_slice(&text).map_err(|e| AggregateError::Corrupt { what: "summary.json".to_string(), message: e.to_string() })?;
    json["wall_s"] = serde_json::json!(wall_s);
    json["images_per_s"] = serde_json::json!(if wall_s > 0.0 { json["rows"].as_f64().unwrap_or(0.0) / wall_s } else { 0.0 });
    let pretty = serde_json::to_string_pretty(&json).expect("json");
    output.put(part::SUMMARY_JSON, Bytes::from(pretty.clone())).await?;
    // Summaries committed before results.md was a part report the JSON.
    let markdown = match shard_store::part_key(store, summary, part::RESULTS_MD) {
        Ok(key) => String::from_utf8_lossy(&store.get(&key).await?).into_owned() + &crate::score_report::rate_line(json["rows"].as_u64().unwrap_or(0), wall_s, json["videos"].is_object()),
        Err(_) => format!("# {}\n\n```json\n{pretty}\n```\n", spec.title),
    };
    output.put(part::RESULTS_MD, Bytes::from(markdown.clone())).await?;
    let plots = crate::aggregate::publish_figures(store, summary, output).await?;
    output.put(part::JOB_TOML, Bytes::from(job_toml.to_string())).await?;
    Ok(PublishedResults { uri: output.uri().to_string(), markdown, plots })
}
