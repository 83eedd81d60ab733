//! FNN checkpoints as safetensors bytes.
//!
//! Layout: one F32 tensor per VarStore variable under its VarStore name (trainable weights and
//! the batch-norm running statistics, which eval-mode scoring needs), plus a single
//! `__metadata__` key `fnn` holding `{"in_dim": D, "config": FnnConfig}` as JSON. A single key
//! because safetensors writes `__metadata__` from a HashMap, whose order would vary between
//! processes with several keys — and checkpoints must be bit-identical for a given training.

use std::collections::{BTreeMap, HashMap};

use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use rwclip_job::detector::DetectorInfo;

use super::{Fnn, FnnConfig, FnnError};

const METADATA_KEY: &str = "fnn";

#[derive(Serialize, Deserialize)]
struct Header {
    in_dim: i64,
    config: FnnConfig,
    /// Present in detectors (trial checkpoints, `rwclip train`): what
    /// scoring needs besides the weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detector: Option<DetectorInfo>,
}

/// A tensor's name, shape and little-endian f32 bytes, ready for safetensors.
struct F32Bytes {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for &F32Bytes {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

pub(super) fn to_bytes(fnn: &Fnn, detector: Option<&DetectorInfo>) -> Result<Vec<u8>, FnnError> {
    let mut tensors = BTreeMap::new();
    for (name, t) in fnn.vs.variables() {
        let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        let numel = t.numel();
        let mut values = vec![0f32; numel];
        t.f_copy_data(&mut values, numel)
            .map_err(|source| FnnError::Torch { context: "copying FNN weights to host", source })?;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let shape = t.size().iter().map(|&d| d as usize).collect();
        tensors.insert(name, F32Bytes { shape, bytes });
    }
    let header = Header { in_dim: fnn.in_dim, config: fnn.cfg.clone(), detector: detector.cloned() };
    let header = serde_json::to_string(&header).map_err(|e| FnnError::CheckpointBadMetadata {
        key: METADATA_KEY,
        reason: e.to_string(),
    })?;
    let metadata = HashMap::from([(METADATA_KEY.to_string(), header)]);
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
        .map_err(|e| FnnError::CheckpointFormat(e.to_string()))
}

fn header(bytes: &[u8]) -> Result<Header, FnnError> {
    let (_, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| FnnError::CheckpointFormat(e.to_string()))?;
    let header = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .ok_or(FnnError::CheckpointMissingMetadata { key: METADATA_KEY })?;
    serde_json::from_str(header).map_err(|e| FnnError::CheckpointBadMetadata {
        key: METADATA_KEY,
        reason: e.to_string(),
    })
}

/// The detector metadata of a checkpoint, `None` for a bare FNN checkpoint.
pub(super) fn detector_info(bytes: &[u8]) -> Result<Option<DetectorInfo>, FnnError> {
    Ok(header(bytes)?.detector)
}

pub(super) fn from_bytes(bytes: &[u8], device: Device) -> Result<Fnn, FnnError> {
    let header = header(bytes)?;
    header.config.validate().map_err(|e| FnnError::CheckpointBadMetadata {
        key: METADATA_KEY,
        reason: e.to_string(),
    })?;
    if header.in_dim <= 0 {
        return Err(FnnError::CheckpointBadMetadata {
            key: METADATA_KEY,
            reason: format!("in_dim is {}, must be > 0", header.in_dim),
        });
    }
    let file = SafeTensors::deserialize(bytes).map_err(|e| FnnError::CheckpointFormat(e.to_string()))?;

    // Build the architecture the metadata describes (the init seed is irrelevant: every
    // variable is overwritten), then fill each variable from the tensor of the same name.
    let fnn = Fnn::new(header.in_dim, &header.config, 0, device);
    let variables = fnn.vs.variables();
    for name in file.names() {
        if !variables.contains_key(name) {
            return Err(FnnError::CheckpointUnexpectedTensor { name: name.to_string() });
        }
    }
    for (name, mut var) in variables {
        let view = file
            .tensor(&name)
            .map_err(|_| FnnError::CheckpointMissingTensor { name: name.clone() })?;
        let loaded = tensor_from_view(&name, &view, &var.size())?;
        tch::no_grad(|| var.f_copy_(&loaded))
            .map_err(|source| FnnError::Torch { context: "copying checkpoint weights", source })?;
    }
    Ok(fnn)
}

fn tensor_from_view(name: &str, view: &TensorView<'_>, expected: &[i64]) -> Result<Tensor, FnnError> {
    if view.dtype() != Dtype::F32 {
        return Err(FnnError::CheckpointTensorDtype {
            name: name.to_string(),
            found: format!("{:?}", view.dtype()),
        });
    }
    let found: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
    if found != expected {
        return Err(FnnError::CheckpointTensorShape {
            name: name.to_string(),
            found,
            expected: expected.to_vec(),
        });
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Tensor::from_slice(&values).view(expected))
}
