//! The FNN's layers: `[Linear -> BatchNorm1d -> ReLU -> Dropout] x len(hidden)`, then
//! `Linear -> 1` (a logit). Parameters live in the `Fnn`'s own VarStore under PyTorch-like
//! names (`hidden.0.linear.weight`, `hidden.0.norm.running_mean`, `output.bias`, ...).

use tch::{nn, Kind, Tensor};

use super::rng::SplitMix64;

/// BatchNorm1d constants, PyTorch's defaults.
const BN_MOMENTUM: f64 = 0.1;
const BN_EPS: f64 = 1e-5;

struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    /// PyTorch's `nn.Linear` default init, drawn from our own generator: kaiming_uniform with
    /// a = sqrt(5) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, and the bias
    /// uses the same bound. Values are drawn row-major, weight first, then bias.
    fn new(path: nn::Path, fan_in: i64, fan_out: i64, rng: &mut SplitMix64) -> Linear {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let weight = uniform(rng, bound, (fan_in * fan_out) as usize).view([fan_out, fan_in]);
        let bias = uniform(rng, bound, fan_out as usize);
        Linear {
            weight: path.var_copy("weight", &weight),
            bias: path.var_copy("bias", &bias),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

fn uniform(rng: &mut SplitMix64, bound: f64, n: usize) -> Tensor {
    let values: Vec<f32> = (0..n)
        .map(|_| ((2.0 * rng.next_f64() - 1.0) * bound) as f32)
        .collect();
    Tensor::from_slice(&values)
}

struct BatchNorm1d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

impl BatchNorm1d {
    /// PyTorch's init (weight 1, bias 0, running mean 0, running var 1); no randomness.
    fn new(path: nn::Path, width: i64) -> BatchNorm1d {
        BatchNorm1d {
            weight: path.var_copy("weight", &Tensor::ones([width], (Kind::Float, tch::Device::Cpu))),
            bias: path.var_copy("bias", &Tensor::zeros([width], (Kind::Float, tch::Device::Cpu))),
            running_mean: path.zeros_no_train("running_mean", &[width]),
            running_var: path.ones_no_train("running_var", &[width]),
        }
    }

    /// In training, normalises with batch statistics and updates the running ones in place
    /// (unbiased variance, momentum 0.1, as PyTorch does); in eval, uses the running ones.
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        x.batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            BN_MOMENTUM,
            BN_EPS,
            false,
        )
    }
}

struct HiddenBlock {
    linear: Linear,
    norm: BatchNorm1d,
}

/// Where a training forward pass gets its dropout masks from.
pub(crate) struct DropoutMasks<'a> {
    pub p: f64,
    pub rng: &'a mut SplitMix64,
}

impl DropoutMasks<'_> {
    /// Inverted dropout mask of shape [rows, cols]: 0 with probability p, else 1/(1-p), so the
    /// expected activation is unchanged and eval needs no rescaling. Drawn row-major from our own
    /// generator (see rng.rs for why not torch's).
    fn mask(&mut self, rows: i64, cols: i64) -> Tensor {
        let keep_scale = (1.0 / (1.0 - self.p)) as f32;
        let values: Vec<f32> = (0..rows * cols)
            .map(|_| if self.rng.next_f64() >= self.p { keep_scale } else { 0.0 })
            .collect();
        Tensor::from_slice(&values).view([rows, cols])
    }
}

pub(crate) struct FnnModel {
    hidden: Vec<HiddenBlock>,
    output: Linear,
}

impl FnnModel {
    /// Creates every variable in `root` (the caller's VarStore decides the device); weights are
    /// drawn from `rng` in layer order.
    pub fn new(root: nn::Path, in_dim: i64, hidden: &[i64], rng: &mut SplitMix64) -> FnnModel {
        let mut fan_in = in_dim;
        let mut blocks = Vec::with_capacity(hidden.len());
        for (i, &width) in hidden.iter().enumerate() {
            let block = root.clone() / "hidden" / i;
            blocks.push(HiddenBlock {
                linear: Linear::new(block.clone() / "linear", fan_in, width, rng),
                norm: BatchNorm1d::new(block / "norm", width),
            });
            fan_in = width;
        }
        let output = Linear::new(root / "output", fan_in, 1, rng);
        FnnModel { hidden: blocks, output }
    }

    /// Each hidden block's output for unit-norm inputs [N, D], eval mode.
    pub fn hidden_outputs(&self, x: &Tensor) -> Vec<Tensor> {
        let mut h = x.shallow_clone();
        let mut out = Vec::with_capacity(self.hidden.len());
        for block in &self.hidden {
            h = block.norm.forward(&block.linear.forward(&h), false).relu();
            out.push(h.shallow_clone());
        }
        out
    }

    /// Logits [N] of unit-norm inputs [N, D]. `dropout: Some` means training mode (batch-norm
    /// batch statistics and dropout); `None` means eval mode.
    pub fn forward(&self, x: &Tensor, mut dropout: Option<DropoutMasks<'_>>) -> Tensor {
        let train = dropout.is_some();
        let mut h = x.shallow_clone();
        for block in &self.hidden {
            h = block.norm.forward(&block.linear.forward(&h), train).relu();
            if let Some(masks) = dropout.as_mut() {
                if masks.p > 0.0 {
                    let size = h.size();
                    h = h * masks.mask(size[0], size[1]).to_device(x.device());
                }
            }
        }
        self.output.forward(&h).squeeze_dim(-1)
    }
}
