//! The aggregate shard over the async [`Store`]: read every trial's metric
//! rows through its committed manifest, write the summary parts under the
//! attempt prefix, commit (first commit wins), and publish the results to
//! the job's output location.

use bytes::Bytes;

use rwclip_artifacts::{MetricRow, ParquetRow, ScoreRow, Store, SummaryRow};
use rwclip_plan::{AggregateSpec, AttemptId, ShardId, ShardKind, ShardSpec};
use rwclip_store::shard_store::{self, attempt_prefix, manifest_key, part, Manifest};

use super::error::AggregateError;
use super::summary::{csv, summarise, unique_trial_rows};
use super::tables::markdown;

fn encode<R: ParquetRow>(what: &str, rows: &[R]) -> Result<Bytes, AggregateError> {
    R::to_parquet(rows).map_err(|source| AggregateError::Encode { what: what.to_string(), source })
}

/// Per-seed metric rows of every trial of `spec`, duplicates dropped.
pub async fn read_trial_metrics(store: &Store, aggregate: &ShardId, spec: &AggregateSpec) -> Result<Vec<MetricRow>, AggregateError> {
    let mut rows = Vec::new();
    for trial in &spec.trials {
        let manifest = shard_store::committed(store, trial).await?.ok_or_else(|| AggregateError::MissingTrial {
            aggregate: aggregate.clone(),
            trial: trial.clone(),
            key: store.full_uri(&manifest_key(trial)),
        })?;
        rows.extend(rwclip_artifacts::read_part::<MetricRow>(store, &manifest, part::METRICS).await?);
    }
    if rows.is_empty() {
        return Err(AggregateError::NoMetrics { aggregate: aggregate.clone() });
    }
    Ok(unique_trial_rows(&rows))
}

/// The per-image scores (0-shot, object unknown) of every seed of the first
/// trial's grid point, which the ROC/PR curves and histograms show, and
/// that point's name.
/// and the layer maps (Fig. 3, Fig. 5) of the trial that drew them.
async fn figure_inputs(store: &Store, spec: &AggregateSpec) -> Result<(String, Vec<ScoreRow>, Option<rwclip_figures::LayerMaps>, Vec<rwclip_figures::Figure>), AggregateError> {
    let setup = rwclip_job::Setup::Zero(rwclip_job::ObjectSetup::Unknown).label();
    let name = part::scores(&setup);
    let has = |m: &Manifest, part: &str| m.parts.iter().any(|p| p.rsplit('/').next() == Some(part));
    let mut point = None;
    let mut rows = Vec::new();
    let mut maps = None;
    let mut map_figures = Vec::new();
    for trial in &spec.trials {
        let Some(manifest) = shard_store::committed(store, trial).await? else { continue };
        let Ok(ShardSpec::Trial(t)) = serde_json::from_value::<ShardSpec>(manifest.spec.clone()) else { continue };
        if maps.is_none() && has(&manifest, part::LAYER_MAPS) {
            let bytes = store.get(&shard_store::part_key(store, &manifest, part::LAYER_MAPS)?).await?;
            maps = Some(serde_json::from_slice(&bytes).map_err(|e| AggregateError::Corrupt { what: format!("{} of trial {trial}", part::LAYER_MAPS), message: e.to_string() })?);
            if has(&manifest, part::MAP_FIGURES) {
                map_figures = anomaly_map_figures(store, trial, &manifest).await?;
            }
        }
        if point.get_or_insert_with(|| t.config.clone()) != &t.config {
            continue;
        }
        if has(&manifest, &name) {
            rows.extend(rwclip_artifacts::read_part::<ScoreRow>(store, &manifest, &name).await?);
        }
    }
    Ok((point.unwrap_or_default(), rows, maps, map_figures))
}

/// The figure trial's anomaly-map figures: its overlay sheets as it drew
/// them, and pixel ROC curves drawn from the points it kept.
async fn anomaly_map_figures(store: &Store, trial: &ShardId, manifest: &Manifest) -> Result<Vec<rwclip_figures::Figure>, AggregateError> {
    let corrupt = |what: String, message: String| AggregateError::Corrupt { what: format!("{what} of trial {trial}"), message };
    let bytes = store.get(&shard_store::part_key(store, manifest, part::MAP_FIGURES)?).await?;
    let listed: rwclip_figures::MapFigures = serde_json::from_slice(&bytes).map_err(|e| corrupt(part::MAP_FIGURES.to_string(), e.to_string()))?;
    let mut figures = rwclip_figures::pixel_roc_figures(&listed.curves).map_err(|e| corrupt("the pixel ROC curves".to_string(), e))?;
    for sheet in listed.sheets {
        let svg = store.get(&shard_store::part_key(store, manifest, &format!("{}.svg", sheet.name))?).await?;
        let png = store.get(&shard_store::part_key(store, manifest, &format!("{}.png", sheet.name))?).await?;
        let svg = String::from_utf8(svg.to_vec()).map_err(|e| corrupt(format!("{}.svg", sheet.name), e.to_string()))?;
        figures.push(rwclip_figures::Figure { name: sheet.name, title: sheet.title, svg, png: png.to_vec() });
    }
    Ok(figures)
}

/// Computes the aggregate and writes its parts under `prefix`; returns the
/// part keys (metrics.parquet, results.parquet, results.csv, results.md,
/// every figure as .svg and .png, results.html).
pub async fn write_aggregate_parts(store: &Store, id: &ShardId, spec: &AggregateSpec, prefix: &str) -> Result<Vec<String>, AggregateError> {
    let metrics = read_trial_metrics(store, id, spec).await?;
    let summary = summarise(&metrics);
    let md = markdown(&spec.title, &spec.datasets, &summary, spec.maps);
    let plot = |figure: &str| {
        let figure = figure.to_string();
        move |message: String| AggregateError::Plot { aggregate: id.clone(), figure, message }
    };
    let mut figures = crate::figures::np_figures(&summary).map_err(plot("Fig. 4"))?;
    let (point, scores, maps, map_figures) = figure_inputs(store, spec).await?;
    figures.extend(crate::figures::score_figures(&scores, &point).map_err(plot("the score curves"))?);
    if let Some(maps) = &maps {
        figures.extend(rwclip_figures::layer_figures(maps, &point).map_err(plot("the t-SNE maps"))?);
    }
    figures.extend(map_figures);
    let html = crate::html::results_html(&spec.title, &md, &figures);
    let mut files: Vec<(String, Bytes)> = vec![
        (part::METRICS.to_string(), encode("the per-seed metric rows", &metrics)?),
        (part::RESULTS_PARQUET.to_string(), encode("the summary rows", &summary)?),
        (part::RESULTS_CSV.to_string(), Bytes::from(csv(&summary))),
        (part::RESULTS_MD.to_string(), Bytes::from(md)),
    ];
    for f in figures {
        files.push((format!("{}.svg", f.name), Bytes::from(f.svg)));
        files.push((format!("{}.png", f.name), Bytes::from(f.png)));
    }
    files.push((part::RESULTS_HTML.to_string(), Bytes::from(html)));
    let mut parts = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let key = format!("{prefix}{name}");
        store.put(&key, bytes).await?;
        parts.push(key);
    }
    Ok(parts)
}

/// Runs the aggregate shard as attempt `attempt` and commits it; when
/// another attempt committed first (or had already), returns that commit.
pub async fn run_aggregate(store: &Store, spec: &AggregateSpec, attempt: &AttemptId, worker: &str) -> Result<Manifest, AggregateError> {
    let shard_spec = ShardSpec::Aggregate(spec.clone());
    let id = shard_spec.id();
    if let Some(done) = shard_store::committed(store, &id).await? {
        return Ok(done);
    }
    let parts = write_aggregate_parts(store, &id, spec, &attempt_prefix(&id, attempt)).await?;
    let spec_json = serde_json::to_value(&shard_spec).expect("shard specs are plain data and always serialise");
    Ok(shard_store::commit(store, &id, ShardKind::Aggregate, spec_json, attempt, worker, parts).await?)
}

/// Where a job's results went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedResults {
    /// The output location holding results.parquet/csv/md and job.toml.
    pub uri: String,
    /// results.md's text.
    pub markdown: String,
    /// The figures published next to it, as SVG file names.
    pub plots: Vec<String>,
}

async fn committed_aggregate(store: &Store, aggregate: &ShardId) -> Result<Manifest, AggregateError> {
    shard_store::committed(store, aggregate).await?.ok_or_else(|| AggregateError::NotCommitted {
        aggregate: aggregate.clone(),
        key: store.full_uri(&manifest_key(aggregate)),
    })
}

/// Copies the committed aggregate's results.parquet/csv/md to `output` and
/// writes the submitted job file next to them as job.toml; a scoring job's
/// summary publishes `scores/`, `top_k.csv` and `summary.json` instead
/// (`wall_s`: the job's time so far, for its rate).
pub async fn publish_results(store: &Store, aggregate: &ShardId, output: &Store, job_toml: &str, wall_s: f64) -> Result<PublishedResults, AggregateError> {
    let manifest = committed_aggregate(store, aggregate).await?;
    if let Ok(ShardSpec::ScoreSummary(spec)) = serde_json::from_value::<ShardSpec>(manifest.spec.clone()) {
        return crate::score_summary::publish_scores(store, &manifest, &spec, output, job_toml, wall_s).await;
    }
    let mut markdown = String::new();
    for name in [part::RESULTS_PARQUET, part::RESULTS_CSV, part::RESULTS_MD] {
        let bytes = store.get(&shard_store::part_key(store, &manifest, name)?).await?;
        if name == part::RESULTS_MD {
            markdown = String::from_utf8_lossy(&bytes).into_owned();
        }
        output.put(name, bytes).await?;
    }
    let plots = publish_figures(store, &manifest, output).await?;
    output.put(part::JOB_TOML, Bytes::from(job_toml.to_string())).await?;
    Ok(PublishedResults { uri: output.uri().to_string(), markdown, plots })
}

/// Copies a committed aggregate's figures (`.svg`, `.png`) and
/// `results.html`, when it drew them, to `output`; returns the SVG names.
pub async fn publish_figures(store: &Store, manifest: &Manifest, output: &Store) -> Result<Vec<String>, AggregateError> {
    let mut plots = Vec::new();
    for key in &manifest.parts {
        let name = key.rsplit('/').next().unwrap_or(key);
        if name.ends_with(".svg") || name.ends_with(".png") || name == part::RESULTS_HTML {
            output.put(name, store.get(key).await?).await?;
            if name.ends_with(".svg") {
                plots.push(name.to_string());
            }
        }
    }
    Ok(plots)
}

/// The summary rows of a committed aggregate (results.parquet).
pub async fn read_summary(store: &Store, aggregate: &ShardId) -> Result<Vec<SummaryRow>, AggregateError> {
    let manifest = committed_aggregate(store, aggregate).await?;
    Ok(rwclip_artifacts::read_part(store, &manifest, part::RESULTS_PARQUET).await?)
}
