//! Strict loading of open_clip state dicts from safetensors into a VarStore.
//!
//! Strict means the file and the model agree exactly: every variable is present
//! with its shape, and the file holds nothing else (open_clip's only buffer,
//! the causal `attn_mask`, is non-persistent and never saved). A checkpoint
//! for a different architecture therefore fails loudly instead of loading
//! half a model.

use std::collections::BTreeMap;
use std::path::PathBuf;

use safetensors::{Dtype, SafeTensors};
use tch::{nn::VarStore, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("cannot read CLIP weights file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin} is not a readable safetensors file (truncated or corrupt?): {source}")]
    Malformed {
        origin: String,
        #[source]
        source: safetensors::SafeTensorError,
    },
    #[error("tensor `{name}` (expected shape {expected:?}) is missing from {origin}")]
    Missing {
        origin: String,
        name: String,
        expected: Vec<i64>,
    },
    #[error("{origin} holds tensor `{name}` (shape {shape:?}) that the model does not have")]
    Unexpected {
        origin: String,
        name: String,
        shape: Vec<i64>,
    },
    #[error("tensor `{name}` in {origin} has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch {
        origin: String,
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },
    #[error("tensor `{name}` in {origin} has dtype {dtype}; only F32, F16 and BF16 are supported")]
    UnsupportedDtype {
        origin: String,
        name: String,
        dtype: String,
    },
    #[error("copying tensor `{name}` from {origin} into the model failed: {source}")]
    Copy {
        origin: String,
        name: String,
        #[source]
        source: tch::TchError,
    },
}

/// Fills every variable of `vs` from the safetensors `bytes`, converting
/// F16/BF16 to the variables' F32. `origin` names the bytes in errors (a file
/// path or an object-store key). Nothing is written unless the whole file
/// checks out. A tensor the model lacks is an error unless `skip_unused`
/// says it belongs to a tower the model was built without.
pub fn load_strict(vs: &VarStore, bytes: &[u8], origin: &str, skip_unused: &dyn Fn(&str) -> bool) -> Result<(), WeightsError> {
    let file = SafeTensors::deserialize(bytes).map_err(|source| WeightsError::Malformed {
        origin: origin.to_string(),
        source,
    })?;
    // Sorted, so the first error reported is the same on every run.
    let variables: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();

    let mut sources = Vec::with_capacity(variables.len());
    for (name, var) in &variables {
        let expected = var.size();
        let view = file.tensor(name).map_err(|_| WeightsError::Missing {
            origin: origin.to_string(),
            name: name.clone(),
            expected: expected.clone(),
        })?;
        let found = shape_of(view.shape());
        if found != expected {
            return Err(WeightsError::ShapeMismatch {
                origin: origin.to_string(),
                name: name.clone(),
                expected,
                found,
            });
        }
        let kind = float_kind(view.dtype()).ok_or_else(|| WeightsError::UnsupportedDtype {
            origin: origin.to_string(),
            name: name.clone(),
            dtype: format!("{:?}", view.dtype()),
        })?;
        sources.push((name, var, view, kind));
    }

    let mut extras: Vec<(&str, Vec<i64>)> = file
        .iter()
        .filter(|(name, _)| !variables.contains_key(*name) && !skip_unused(name))
        .map(|(name, view)| (name, shape_of(view.shape())))
        .collect();
    extras.sort();
    if let Some((name, shape)) = extras.into_iter().next() {
        return Err(WeightsError::Unexpected {
            origin: origin.to_string(),
            name: name.to_string(),
            shape,
        });
    }

    tch::no_grad(|| {
        for (name, var, view, kind) in sources {
            copy_into(var, view.data(), view.shape(), kind).map_err(|source| {
                WeightsError::Copy {
                    origin: origin.to_string(),
                    name: name.clone(),
                    source,
                }
            })?;
        }
        Ok(())
    })
}

fn copy_into(var: &Tensor, data: &[u8], shape: &[usize], kind: Kind) -> Result<(), tch::TchError> {
    // safetensors validated that `data` holds exactly shape × dtype bytes.
    let source = Tensor::f_from_data_size(data, &shape_of(shape), kind)?;
    let mut var = var.shallow_clone();
    var.f_copy_(&source)
}

fn float_kind(dtype: Dtype) -> Option<Kind> {
    match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F16 => Some(Kind::Half),
        Dtype::BF16 => Some(Kind::BFloat16),
        _ => None,
    }
}

fn shape_of(dims: &[usize]) -> Vec<i64> {
    // Dimensions come from a validated header whose data fits in memory.
    dims.iter().map(|&d| d as i64).collect()
}
