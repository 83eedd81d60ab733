//! Image scores: s_pr against a hand computation of the paper's formula (§3.1), and the
//! combination with s_fnn.

use rwclip_engine::fnn::{Fnn, FnnConfig};
use rwclip_engine::score::{prompt_score, score_images, try_prompt_score, DEFAULT_TEMPERATURE};
use tch::{Device, Tensor};

const CPU: Device = Device::Cpu;

fn matrix(rows: &[[f64; 3]]) -> Tensor {
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, 3])
}

fn vector(v: [f64; 3]) -> Tensor {
    Tensor::from_slice(&v.map(|x| x as f32))
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t).expect("1-D tensor")
}

/// The paper's formula in plain f64: exp(a·i/T) / (exp(n·i/T) + exp(a·i/T)) with unit vectors.
fn hand_s_pr(image: [f64; 3], normal: [f64; 3], anomaly: [f64; 3], t: f64) -> f64 {
    let norm = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let cos = |u: [f64; 3], v: [f64; 3]| (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) / (norm(u) * norm(v));
    let (en, ea) = ((cos(normal, image) / t).exp(), (cos(anomaly, image) / t).exp());
    ea / (en + ea)
}

const IMAGES: [[f64; 3]; 4] = [[1.0, 2.0, 3.0], [-0.5, 0.2, 0.1], [3.0, -1.0, 0.5], [0.2, 0.25, 0.22]];
const NORMAL: [f64; 3] = [0.9, 2.2, 2.5];
const ANOMALY: [f64; 3] = [-1.0, 0.3, 0.4];

#[test]
fn prompt_score_matches_hand_computation_of_the_softmax_of_cosines() {
    for t in [DEFAULT_TEMPERATURE, 0.1, 1.0] {
        let got = values(&prompt_score(&matrix(&IMAGES), &vector(NORMAL), &vector(ANOMALY), t));
        assert_eq!(got.len(), IMAGES.len());
        for (image, g) in IMAGES.iter().zip(&got) {
            let want = hand_s_pr(*image, NORMAL, ANOMALY, t);
            assert!((g - want).abs() < 2e-6, "T={t} image {image:?}: got {g}, want {want}");
        }
    }
    // The chosen vectors exercise both ends, not just 0.5.
    let s = values(&prompt_score(&matrix(&IMAGES), &vector(NORMAL), &vector(ANOMALY), 0.01));
    assert!(s[0] < 0.01 && s[1] > 0.99, "{s:?}");
}

#[test]
fn prompt_score_accepts_row_text_and_ignores_magnitudes() {
    let images = matrix(&IMAGES);
    let base = values(&prompt_score(&images, &vector(NORMAL), &vector(ANOMALY), 0.05));
    let rows = values(&prompt_score(&(&images * 12.0), &(vector(NORMAL).view([1, 3]) * 0.3), &vector(ANOMALY).view([1, 3]), 0.05));
    for (a, b) in base.iter().zip(&rows) {
        assert!((a - b).abs() < 1e-6, "{base:?} vs {rows:?}");
    }
}

#[test]
fn prompt_score_shape_errors_name_both_shapes() {
    let err = try_prompt_score(&matrix(&IMAGES), &Tensor::zeros([4], (tch::Kind::Float, CPU)), &vector(ANOMALY), 0.01)
        .err()
        .expect("dimension mismatch must fail");
    let msg = err.to_string();
    assert!(msg.contains("normal") && msg.contains("[4]") && msg.contains("[4, 3]"), "{msg}");
    let err = try_prompt_score(&matrix(&IMAGES), &vector(NORMAL), &vector(ANOMALY), 0.0).err().expect("T = 0 must fail");
    assert!(err.to_string().contains("temperature"), "{err}");
}

#[test]
fn score_images_adds_prompt_and_fnn_scores() {
    let cfg = FnnConfig { hidden: vec![8, 8, 8], ..FnnConfig::default() };
    let normal = Tensor::from_slice(&[1.0f32, 0.1, 0.0, 0.9, 0.0, 0.2, 1.1, -0.1, 0.1]).view([3, 3]);
    let anomaly = Tensor::from_slice(&[-1.0f32, 0.1, 0.0, -0.9, 0.0, 0.2, -1.1, -0.1, 0.1]).view([3, 3]);
    let (fnn, _) = Fnn::train(&normal, &anomaly, &cfg, 2, CPU).unwrap();
    let images = matrix(&IMAGES);
    let scores = score_images(&images, &vector(NORMAL), &vector(ANOMALY), &fnn, DEFAULT_TEMPERATURE);
    assert_eq!(scores.s_fnn, values(&fnn.score(&images)));
    for (i, image) in IMAGES.iter().enumerate() {
        let want = hand_s_pr(*image, NORMAL, ANOMALY, DEFAULT_TEMPERATURE);
        assert!((scores.s_pr[i] - want).abs() < 2e-6);
        assert_eq!(scores.combined[i], scores.s_pr[i] + scores.s_fnn[i]);
    }
}
