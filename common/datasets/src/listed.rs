//! The planner's first step: every dataset of a job listed through the
//! object store (a local directory and `s3://` alike, so the coordinator
//! never needs the data mounted), and the few-shot reference draw.

use std::path::PathBuf;

use rwclip_core::hash::content_hash;
use rwclip_job::{Job, Setup};
use rwclip_store::{block_on_here, Store};

use crate::source::{self, DatasetListing};
use crate::{DatasetError, ImageRecord};

/// Why a job's datasets could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("job {}: cannot list dataset {dataset:?}: {source}", .job.display())]
    Dataset { job: PathBuf, dataset: String, source: DatasetError },
    #[error("job {}: dataset {dataset:?} at {root} has no images to evaluate", .job.display())]
    NoImages { job: PathBuf, dataset: String, root: String },
    #[error("cannot start a runtime to list the datasets: {message}")]
    Runtime { message: String },
}

/// One dataset of a job as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedDataset {
    /// The name results are reported under.
    pub name: String,
    /// The store its image paths are keys of: a canonical local directory
    /// or a URL.
    pub store_uri: String,
    pub setups: Vec<Setup>,
    pub listing: DatasetListing,
}

/// Lists every dataset of `job`, in file order.
pub async fn list_datasets(job: &Job) -> Result<Vec<ListedDataset>, ListError> {
    let mut out = Vec::new();
    for d in job.datasets() {
        let failed = |source| ListError::Dataset { job: job.path.clone(), dataset: d.name(), source };
        let (uri, file) = d.store_uri_and_file();
        // Opening a local store creates its directory; a dataset root that
        // does not exist is an error, not an empty dataset.
        let store_uri = match uri.split_once("://") {
            None => {
                let path = std::path::Path::new(&uri);
                if !path.is_dir() {
                    return Err(failed(crate::DatasetError::MissingRoot { root: path.to_path_buf() }));
                }
                canonical(path)
            }
            Some(_) => uri.clone(),
        };
        let store = Store::open(&store_uri).map_err(|e| failed(crate::DatasetError::Store { root: uri.clone(), message: e.to_string() }))?;
        let listing = source::list(&store, d.spec.kind, &source::ListOptions::for_spec(&d.spec, file.as_deref())).await.map_err(failed)?;
        if listing.images.is_empty() {
            return Err(ListError::NoImages { job: job.path.clone(), dataset: d.name(), root: store_uri });
        }
        out.push(ListedDataset {
            name: d.name(),
            store_uri,
            setups: d.spec.setups.clone().unwrap_or_else(|| job.spec.scoring.setups.clone()),
            listing,
        });
    }
    Ok(out)
}

/// [`list_datasets`] from synchronous code: on the caller's tokio runtime
/// when there is one (the coordinator plans on a blocking thread), else on
/// a runtime of its own.
pub fn list_datasets_blocking(job: &Job) -> Result<Vec<ListedDataset>, ListError> {
    block_on_here(list_datasets(job)).map_err(|message| ListError::Runtime { message })?
}

/// The canonical path when it exists (ids independent of the working
/// directory), else the path as given.
pub fn canonical(p: &std::path::Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// The k reference images of one category for one trial: a pure function of
/// (seed, dataset, category, k) and the pool, so mean ± std over seeds
/// covers the draw. Each pool image is ranked by a hash of those four and
/// its path; the k lowest are drawn, returned in pool order.
pub fn draw_references<'a>(
    pool: &'a [ImageRecord],
    seed: u64,
    dataset: &str,
    category: &str,
    k: u32,
) -> Result<Vec<&'a ImageRecord>, usize> {
    let candidates: Vec<&ImageRecord> = pool.iter().filter(|r| r.category == category).collect();
    if candidates.len() < k as usize {
        return Err(candidates.len());
    }
    let rank = |r: &ImageRecord| content_hash(format!("{seed}\0{dataset}\0{category}\0{k}\0{}", r.path).as_bytes());
    let mut ranked: Vec<(String, usize)> = candidates.iter().enumerate().map(|(i, r)| (rank(r), i)).collect();
    ranked.sort();
    let mut chosen: Vec<usize> = ranked.into_iter().take(k as usize).map(|(_, i)| i).collect();
    chosen.sort_unstable();
    Ok(chosen.into_iter().map(|i| candidates[i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Vec<ImageRecord> {
        (0..20)
            .map(|i| ImageRecord {
                path: format!("{}/train/good/{i:03}.png", if i % 2 == 0 { "a" } else { "b" }),
                category: if i % 2 == 0 { "a" } else { "b" }.to_string(),
                label: 0,
                defect: "good".to_string(),
                mask: None,
            })
            .collect()
    }

    #[test]
    fn the_draw_is_a_pure_function_of_seed_dataset_category_and_k() {
        let pool = pool();
        let paths = |seed, dataset, k| draw_references(&pool, seed, dataset, "a", k).unwrap().iter().map(|r| r.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(0, "MVTec-AD", 4), paths(0, "MVTec-AD", 4));
        assert_eq!(paths(0, "MVTec-AD", 4).len(), 4);
        assert!(paths(0, "MVTec-AD", 4).iter().all(|p| p.starts_with("a/")));
        let seeds: std::collections::BTreeSet<Vec<String>> = (0..6).map(|s| paths(s, "MVTec-AD", 2)).collect();
        assert!(seeds.len() > 1, "every seed drew the same references");
        assert_ne!(paths(0, "MVTec-AD", 2), paths(0, "VisA", 2));
        assert_eq!(draw_references(&pool, 0, "x", "a", 11).unwrap_err(), 10);
    }
}
