//! Training loop (paper §3.3, §4.2): BCE on logits with normal = 0 and anomaly = 1, AdamW,
//! batches made of whole prompt pairs, step-decayed learning rate.

use tch::{nn, nn::OptimizerConfig, Device, Kind, Reduction, Tensor};

use super::model::DropoutMasks;
use super::rng::{SplitMix64, Stream};
use super::{l2_normalize_rows, Fnn, FnnConfig, FnnError};

/// What a training did, for logs and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Mean per-sample BCE of each epoch (batch losses weighted by batch size), measured in
    /// training mode as the batches went by.
    pub epoch_losses: Vec<f64>,
    /// Learning rate used throughout each epoch.
    pub epoch_lrs: Vec<f64>,
    /// Optimiser steps taken (batches over all epochs).
    pub steps: usize,
}

/// AdamW moment decay rates and epsilon: PyTorch's defaults (the paper states none).
const ADAM_BETA1: f64 = 0.9;
const ADAM_BETA2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;

pub(super) fn train(
    normal: &Tensor,
    anomaly: &Tensor,
    cfg: &FnnConfig,
    seed: u64,
    device: Device,
) -> Result<(Fnn, TrainReport), FnnError> {
    cfg.validate()?;
    let (num_pairs, in_dim) = check_pairs(normal, anomaly)?;

    // Normalised here rather than by callers so none can forget (see normalize.rs for why).
    let normal = l2_normalize_rows(&normal.to_device(device)).detach();
    let anomaly = l2_normalize_rows(&anomaly.to_device(device)).detach();

    let fnn = Fnn::new(in_dim, cfg, seed, device);
    let mut optimizer = nn::AdamW {
        beta1: ADAM_BETA1,
        beta2: ADAM_BETA2,
        wd: cfg.weight_decay,
        eps: ADAM_EPS,
        amsgrad: false,
    }
    .build(&fnn.vs, cfg.lr)
    .map_err(|source| FnnError::Torch { context: "building the AdamW optimiser", source })?;

    // Separate streams: the shuffle order does not depend on the dropout rate or widths.
    let mut shuffle_rng = SplitMix64::for_stream(seed, Stream::PairShuffle);
    let mut dropout_rng = SplitMix64::for_stream(seed, Stream::Dropout);
    let mut report = TrainReport { epoch_losses: Vec::new(), epoch_lrs: Vec::new(), steps: 0 };

    for epoch in 0..cfg.epochs {
        let lr = cfg.lr_for_epoch(epoch);
        optimizer.set_lr(lr);
        let mut loss_sum = 0.0;
        let mut rows_seen = 0usize;
        for batch_pairs in shuffle_rng.permutation(num_pairs).chunks(cfg.pairs_per_batch) {
            let (x, y) = pair_batch(&normal, &anomaly, batch_pairs, device);
            let dropout = DropoutMasks { p: cfg.dropout, rng: &mut dropout_rng };
            let logits = fnn.model.forward(&x, Some(dropout));
            let loss = logits.binary_cross_entropy_with_logits::<Tensor>(
                &y,
                None,
                None,
                Reduction::Mean,
            );
            optimizer.backward_step(&loss);
            let rows = 2 * batch_pairs.len();
            loss_sum += loss.double_value(&[]) * rows as f64;
            rows_seen += rows;
            report.steps += 1;
        }
        report.epoch_losses.push(loss_sum / rows_seen as f64);
        report.epoch_lrs.push(lr);
    }
    Ok((fnn, report))
}

/// Validates the pair tensors; returns (Np, D).
fn check_pairs(normal: &Tensor, anomaly: &Tensor) -> Result<(usize, i64), FnnError> {
    let (ns, an) = (normal.size(), anomaly.size());
    if ns.len() != 2 {
        return Err(FnnError::NotAMatrix { what: "normal embeddings", shape: ns });
    }
    if an.len() != 2 {
        return Err(FnnError::NotAMatrix { what: "anomaly embeddings", shape: an });
    }
    if ns != an {
        return Err(FnnError::PairShapeMismatch { normal: ns, anomaly: an });
    }
    if ns[0] == 0 {
        return Err(FnnError::NoPairs);
    }
    if ns[1] == 0 {
        return Err(FnnError::NoFeatures { shape: ns });
    }
    Ok((ns[0] as usize, ns[1]))
}

/// One batch holding both prompts of each listed pair — the paper keeps a pair in one batch
/// ("performance was slightly improved"). Rows: the pairs' normal prompts in the listed order,
/// then their anomalous prompts in the same order; targets 0 then 1.
fn pair_batch(normal: &Tensor, anomaly: &Tensor, pairs: &[usize], device: Device) -> (Tensor, Tensor) {
    let index: Vec<i64> = pairs.iter().map(|&i| i as i64).collect();
    let index = Tensor::from_slice(&index).to_device(device);
    let x = Tensor::cat(&[normal.index_select(0, &index), anomaly.index_select(0, &index)], 0);
    let n = pairs.len() as i64;
    let y = Tensor::cat(
        &[Tensor::zeros([n], (Kind::Float, device)), Tensor::ones([n], (Kind::Float, device))],
        0,
    );
    (x, y)
}
