//! Strict CLIP weight loading: every way a safetensors file can disagree with
//! the model is refused with an error naming the tensor (and both shapes) or
//! the file; half-precision files are accepted and widened to f32.

use std::path::{Path, PathBuf};

use rwclip_engine::clip::{ClipConfig, ClipModel, WeightsError};
use tch::{Device, Kind, Tensor};

fn tiny() -> ClipConfig {
    ClipConfig::preset("rwclip-tiny").unwrap()
}

/// The random-init tiny model's parameters, sorted by name.
fn tiny_parameters() -> Vec<(String, Tensor)> {
    let model = ClipModel::load(&tiny(), None, Device::Cpu).unwrap();
    let mut parameters: Vec<(String, Tensor)> = model.vs.variables().into_iter().collect();
    parameters.sort_by(|a, b| a.0.cmp(&b.0));
    parameters
}

fn write(dir: &Path, file: &str, tensors: &[(String, Tensor)]) -> PathBuf {
    let path = dir.join(file);
    Tensor::write_safetensors(tensors, &path).unwrap();
    path
}

fn load_error(path: &Path) -> (WeightsError, String) {
    let error = ClipModel::load(&tiny(), Some(path), Device::Cpu).unwrap_err();
    let message = error.to_string();
    eprintln!("{message}");
    (error, message)
}

#[test]
fn missing_tensor_is_named_with_its_expected_shape() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = tiny_parameters();
    tensors.retain(|(name, _)| name != "visual.proj");
    let path = write(dir.path(), "missing.safetensors", &tensors);

    let (error, message) = load_error(&path);
    assert!(
        matches!(&error, WeightsError::Missing { name, expected, .. }
        if name == "visual.proj" && expected == &[64, 64])
    );
    assert!(
        message.contains("`visual.proj`") && message.contains("[64, 64]"),
        "{message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn unexpected_tensor_is_named_with_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = tiny_parameters();
    tensors.push((
        "visual.head.weight".to_string(),
        Tensor::zeros([3, 5], (Kind::Float, Device::Cpu)),
    ));
    let path = write(dir.path(), "extra.safetensors", &tensors);

    let (error, message) = load_error(&path);
    assert!(
        matches!(&error, WeightsError::Unexpected { name, shape, .. }
        if name == "visual.head.weight" && shape == &[3, 5])
    );
    assert!(
        message.contains("`visual.head.weight`") && message.contains("[3, 5]"),
        "{message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn misshaped_tensor_is_named_with_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = tiny_parameters();
    for (name, tensor) in &mut tensors {
        if name == "text_projection" {
            *tensor = Tensor::zeros([64, 32], (Kind::Float, Device::Cpu));
        }
    }
    let path = write(dir.path(), "misshaped.safetensors", &tensors);

    let (error, message) = load_error(&path);
    assert!(
        matches!(&error, WeightsError::ShapeMismatch { name, expected, found, .. }
        if name == "text_projection" && expected == &[64, 64] && found == &[64, 32])
    );
    assert!(message.contains("`text_projection`"), "{message}");
    assert!(
        message.contains("[64, 64]") && message.contains("[64, 32]"),
        "{message}"
    );
}

#[test]
fn truncated_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "truncated.safetensors", &tiny_parameters());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    let (error, message) = load_error(&path);
    assert!(matches!(error, WeightsError::Malformed { .. }));
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn absent_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.safetensors");
    let (error, message) = load_error(&path);
    assert!(matches!(error, WeightsError::Unreadable { .. }));
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn integer_tensor_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = tiny_parameters();
    for (name, tensor) in &mut tensors {
        if name == "logit_scale" {
            *tensor = tensor.to_kind(Kind::Int);
        }
    }
    let path = write(dir.path(), "int.safetensors", &tensors);

    let (error, message) = load_error(&path);
    assert!(matches!(&error, WeightsError::UnsupportedDtype { name, .. } if name == "logit_scale"));
    assert!(
        message.contains("`logit_scale`") && message.contains("I32"),
        "{message}"
    );
}

#[test]
fn half_precision_files_load_widened_to_f32() {
    let dir = tempfile::tempdir().unwrap();
    let original = tiny_parameters();
    for kind in [Kind::Half, Kind::BFloat16] {
        let narrowed: Vec<(String, Tensor)> = original
            .iter()
            .map(|(name, t)| (name.clone(), t.to_kind(kind)))
            .collect();
        let path = write(dir.path(), &format!("{kind:?}.safetensors"), &narrowed);

        let model = ClipModel::load(&tiny(), Some(&path), Device::Cpu).unwrap();
        let loaded = model.vs.variables();
        for (name, narrow) in &narrowed {
            let var = &loaded[name];
            assert_eq!(var.kind(), Kind::Float, "{name}");
            assert!(
                var.equal(&narrow.to_kind(Kind::Float)),
                "{name} ({kind:?}) not loaded exactly"
            );
        }
    }
}

#[test]
fn in_memory_bytes_load_exactly_and_errors_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let original = tiny_parameters();
    let path = write(dir.path(), "valid.safetensors", &original);
    let bytes = std::fs::read(&path).unwrap();

    let model = ClipModel::load_bytes(&tiny(), &bytes, Device::Cpu).unwrap();
    let loaded = model.vs.variables();
    assert_eq!(loaded.len(), original.len());
    for (name, tensor) in &original {
        assert!(
            loaded[name].equal(tensor),
            "{name} differs after load_bytes"
        );
    }

    let error = ClipModel::load_bytes(&tiny(), &bytes[..bytes.len() - 1], Device::Cpu).unwrap_err();
    assert!(error.to_string().contains("in-memory"), "{error}");
}
