//! The FNN anomaly head (paper §3.3): trained on CLIP text embeddings of random-word prompt
//! pairs (normal 0, anomaly 1), applied to CLIP image embeddings to give s_fnn.
//!
//! - hyper-parameters and their defaults are `rwclip_job::fnn_config::FnnConfig` (the
//!   job file's `[training.fnn]`, which the coordinator validates without libtorch).
//! - `model`: the layers and their seeded initialisation.
//! - `train`: the training loop (whole pairs per batch, AdamW, step-decayed learning rate).
//! - `checkpoint`: safetensors bytes with the configuration in `__metadata__`.
//! - `rng`: the SplitMix64 generator behind every random choice (not torch's global RNG).
//! - `normalize`: projection of embeddings onto the unit sphere, applied to every input.
//!
//! Each `Fnn` owns a separate VarStore (the CLIP backbone has its own), so saving, loading and
//! optimising the head never touches backbone weights, and several heads can coexist.

mod checkpoint;
mod model;
mod normalize;
pub mod rng;
mod train;

pub use rwclip_job::fnn_config::{FnnConfig, FnnConfigError};
pub use normalize::l2_normalize_rows;
pub use train::TrainReport;

use tch::{nn, Device, Kind, Tensor};

use model::FnnModel;
use rng::{SplitMix64, Stream};

#[derive(Debug, thiserror::Error)]
pub enum FnnError {
    #[error(transparent)]
    InvalidConfig(#[from] FnnConfigError),
    #[error("{what} must be a 2-D [rows, features] tensor, got shape {shape:?}")]
    NotAMatrix { what: &'static str, shape: Vec<i64> },
    #[error(
        "normal embeddings have shape {normal:?} but anomaly embeddings have shape {anomaly:?}; \
         they must match (row i of both is prompt pair i)"
    )]
    PairShapeMismatch { normal: Vec<i64>, anomaly: Vec<i64> },
    #[error("no training pairs: normal and anomaly embeddings have 0 rows")]
    NoPairs,
    #[error("training embeddings have shape {shape:?}: 0 features per row")]
    NoFeatures { shape: Vec<i64> },
    #[error("{what} have shape {shape:?} but the FNN expects {expected} features per row")]
    FeatureDimMismatch { what: &'static str, shape: Vec<i64>, expected: i64 },
    #[error("torch failed while {context}: {source}")]
    Torch { context: &'static str, source: tch::TchError },
    #[error("FNN checkpoint is not valid safetensors: {0}")]
    CheckpointFormat(String),
    #[error("FNN checkpoint has no `__metadata__` key `{key}`")]
    CheckpointMissingMetadata { key: &'static str },
    #[error("FNN checkpoint `__metadata__` key `{key}` is not valid: {reason}")]
    CheckpointBadMetadata { key: &'static str, reason: String },
    #[error("FNN checkpoint lacks tensor `{name}`")]
    CheckpointMissingTensor { name: String },
    #[error("FNN checkpoint tensor `{name}` has shape {found:?}, expected {expected:?}")]
    CheckpointTensorShape { name: String, found: Vec<i64>, expected: Vec<i64> },
    #[error("FNN checkpoint tensor `{name}` has dtype {found}, expected F32")]
    CheckpointTensorDtype { name: String, found: String },
    #[error("FNN checkpoint has unexpected tensor `{name}`")]
    CheckpointUnexpectedTensor { name: String },
}

/// A trained (or freshly initialised) FNN anomaly head with its own VarStore.
pub struct Fnn {
    vs: nn::VarStore,
    model: FnnModel,
    cfg: FnnConfig,
    in_dim: i64,
}

impl Fnn {
    /// An untrained FNN on `device`, weights drawn from `seed` (PyTorch's default init, but from
    /// our own generator, so the result does not depend on torch's global RNG).
    ///
    /// # Panics
    /// If `cfg` is invalid (see `FnnConfig::validate`) or `in_dim <= 0`; `train` and
    /// `from_safetensors` validate first and return errors instead.
    pub fn new(in_dim: i64, cfg: &FnnConfig, seed: u64, device: Device) -> Fnn {
        assert!(in_dim > 0, "FNN input dimension must be > 0, got {in_dim}");
        if let Err(e) = cfg.validate() {
            panic!("{e}");
        }
        let vs = nn::VarStore::new(device);
        let mut rng = SplitMix64::for_stream(seed, Stream::WeightInit);
        let model = FnnModel::new(vs.root(), in_dim, &cfg.hidden, &mut rng);
        Fnn { vs, model, cfg: cfg.clone(), in_dim }
    }

    /// Trains a new FNN on `normal`/`anomaly` text embeddings, both [Np, D]: row i of each is
    /// the normal and the anomalous prompt of pair i. Embeddings may be unnormalised; they are
    /// L2-normalised here. Same inputs, config and seed give bit-identical weights on CPU, also
    /// when several trainings run concurrently.
    pub fn train(
        normal: &Tensor,
        anomaly: &Tensor,
        cfg: &FnnConfig,
        seed: u64,
        device: Device,
    ) -> Result<(Fnn, TrainReport), FnnError> {
        train::train(normal, anomaly, cfg, seed, device)
    }

    /// s_fnn = sigmoid(FNN(normalise(e))) for embeddings [N, D] (unnormalised), in eval mode
    /// (running batch-norm statistics, no dropout) without autograd. Returns [N] f32 on the
    /// FNN's device.
    ///
    /// # Panics
    /// If `embeddings` is not [N, in_dim]; use `try_score` to get an error instead.
    pub fn score(&self, embeddings: &Tensor) -> Tensor {
        self.try_score(embeddings).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `score`, returning shape errors instead of panicking.
    pub fn try_score(&self, embeddings: &Tensor) -> Result<Tensor, FnnError> {
        self.check_features("embeddings to score", embeddings)?;
        Ok(tch::no_grad(|| {
            let x = l2_normalize_rows(&embeddings.to_device(self.vs.device()));
            self.model.forward(&x, None).sigmoid().to_kind(Kind::Float)
        }))
    }

    /// What each layer makes of embeddings [N, D] (unnormalised), in eval
    /// mode: the unit-norm input the FNN sees, then every hidden block's
    /// output. [N, width] f32 on the CPU each.
    pub fn layer_outputs(&self, embeddings: &Tensor) -> Result<Vec<Tensor>, FnnError> {
        self.check_features("embeddings to map", embeddings)?;
        Ok(tch::no_grad(|| {
            let x = l2_normalize_rows(&embeddings.to_device(self.vs.device()));
            let mut out = vec![x.to_kind(Kind::Float).to_device(Device::Cpu)];
            out.extend(self.model.hidden_outputs(&x).into_iter().map(|h| h.to_kind(Kind::Float).to_device(Device::Cpu)));
            out
        }))
    }

    pub fn config(&self) -> &FnnConfig {
        &self.cfg
    }

    pub fn in_dim(&self) -> i64 {
        self.in_dim
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Serialises weights and batch-norm running statistics; see `checkpoint`.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, FnnError> {
        checkpoint::to_bytes(self, None)
    }

    /// A detector: the checkpoint with `info` in its metadata.
    pub fn to_detector(&self, info: &rwclip_job::detector::DetectorInfo) -> Result<Vec<u8>, FnnError> {
        checkpoint::to_bytes(self, Some(info))
    }

    /// The detector metadata of a checkpoint (`None` when it has none).
    pub fn detector_info(bytes: &[u8]) -> Result<Option<rwclip_job::detector::DetectorInfo>, FnnError> {
        checkpoint::detector_info(bytes)
    }

    /// Restores an FNN written by `to_safetensors`; errors name the tensor or key at fault.
    pub fn from_safetensors(bytes: &[u8], device: Device) -> Result<Fnn, FnnError> {
        checkpoint::from_bytes(bytes, device)
    }

    fn check_features(&self, what: &'static str, t: &Tensor) -> Result<(), FnnError> {
        let shape = t.size();
        if shape.len() != 2 {
            return Err(FnnError::NotAMatrix { what, shape });
        }
        if shape[1] != self.in_dim {
            return Err(FnnError::FeatureDimMismatch { what, shape, expected: self.in_dim });
        }
        Ok(())
    }
}
