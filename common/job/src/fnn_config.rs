//! Hyper-parameters of the FNN anomaly head (paper §3.3, §4.2). Pure data, so
//! job files can be validated without libtorch; the worker's `fnn` module
//! trains with it.

use serde::{Deserialize, Serialize};

/// A hyper-parameter outside its domain, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid FNN config: `{field}` {reason}")]
pub struct FnnConfigError {
    pub field: &'static str,
    pub reason: String,
}

/// In a job file this is the `[training.fnn]` table; every key is optional
/// and defaults to the paper's setup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FnnConfig {
    /// Widths of the hidden `Linear -> BatchNorm1d -> ReLU -> Dropout` blocks.
    pub hidden: Vec<i64>,
    /// Dropout probability after each hidden block, in [0, 1).
    pub dropout: f64,
    pub epochs: usize,
    /// Pairs per batch: a batch holds both prompts of each of its pairs (2x rows).
    pub pairs_per_batch: usize,
    /// Initial AdamW learning rate.
    pub lr: f64,
    /// AdamW decoupled weight decay (applied to every parameter, as `model.parameters()` does).
    pub weight_decay: f64,
    /// Step decay factor of the learning rate ...
    pub lr_decay: f64,
    /// ... applied every this many epochs (StepLR semantics).
    pub decay_after_epochs: usize,
}

impl Default for FnnConfig {
    /// The paper's setup. Hidden [256, 256, 256] on a 640-d input gives 297,473 parameters,
    /// matching "0.3M" in Table 3 together with "four linear layers". Batches of 128 rows = 64
    /// pairs; 2 epochs; AdamW lr 1e-3 and weight decay 1e-4; the learning rate "is decayed after
    /// 1 epoch" (factor not stated; 0.1 is the usual StepLR gamma).
    ///
    /// Dropout 0.5: the paper names dropout but not its rate; 0.5 is `torch.nn.Dropout()`'s
    /// default, the likeliest value when none is reported. Strong dropout also suits the task:
    /// the FNN is trained on text embeddings but applied to image embeddings, so it should not
    /// lean on a few text-specific features.
    fn default() -> Self {
        FnnConfig {
            hidden: vec![256, 256, 256],
            dropout: 0.5,
            epochs: 2,
            pairs_per_batch: 64,
            lr: 1e-3,
            weight_decay: 1e-4,
            lr_decay: 0.1,
            decay_after_epochs: 1,
        }
    }
}

impl FnnConfig {
    pub fn validate(&self) -> Result<(), FnnConfigError> {
        let bad = |field: &'static str, reason: String| Err(FnnConfigError { field, reason });
        if self.hidden.is_empty() {
            return bad("hidden", "must list at least one width".into());
        }
        if let Some((i, w)) = self.hidden.iter().enumerate().find(|(_, w)| **w <= 0) {
            return bad("hidden", format!("width {i} is {w}; widths must be > 0"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", format!("{} is outside [0, 1)", self.dropout));
        }
        if self.epochs == 0 {
            return bad("epochs", "must be >= 1".into());
        }
        if self.pairs_per_batch == 0 {
            return bad("pairs_per_batch", "must be >= 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", format!("{} must be finite and > 0", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", format!("{} must be finite and >= 0", self.weight_decay));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0) {
            return bad("lr_decay", format!("{} must be finite and > 0", self.lr_decay));
        }
        if self.decay_after_epochs == 0 {
            return bad("decay_after_epochs", "must be >= 1".into());
        }
        Ok(())
    }

    /// Trainable parameters (weights, biases, batch-norm scale and shift; running statistics
    /// are buffers, not parameters) for inputs of `in_dim` features.
    pub fn num_params(&self, in_dim: i64) -> i64 {
        let mut fan_in = in_dim;
        let mut total = 0;
        for &width in &self.hidden {
            total += fan_in * width + width + 2 * width;
            fan_in = width;
        }
        total + fan_in + 1
    }

    /// Learning rate used throughout epoch `epoch` (0-based): `lr * lr_decay^(epoch /
    /// decay_after_epochs)`, like PyTorch's StepLR stepped once per epoch.
    pub fn lr_for_epoch(&self, epoch: usize) -> f64 {
        let decays = epoch / self.decay_after_epochs.max(1);
        self.lr * self.lr_decay.powi(decays as i32)
    }
}
