//! Exact t-SNE (van der Maaten & Hinton, 2008) to two dimensions, for the
//! few hundred points of Fig. 3 and Fig. 5: Gaussian affinities at a fixed
//! perplexity (a binary search per point), Student-t similarities in the
//! map, gradient descent with momentum, early exaggeration and gains.
//! Plain f64 arithmetic in a fixed order from a seeded start: the same
//! points give the same map on every machine.

/// Points in, map coordinates out (one per point, in order).
pub fn tsne(points: &[Vec<f32>], perplexity: f64, iterations: usize, seed: u64) -> Vec<(f64, f64)> {
    let n = points.len();
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![(0.0, 0.0)];
    }
    let p = affinities(points, perplexity.min((n - 1) as f64 / 3.0).max(1.0));
    let mut y: Vec<[f64; 2]> = start(n, seed);
    let mut velocity = vec![[0.0f64; 2]; n];
    let mut gains = vec![[1.0f64; 2]; n];
    let learning_rate = (n as f64 / 12.0).max(50.0);
    let mut q = vec![0.0f64; n * n];
    for it in 0..iterations {
        let exaggeration = if it < 100 { 12.0 } else { 1.0 };
        let momentum = if it < 100 { 0.5 } else { 0.8 };
        // Student-t kernel (1 + d²)⁻¹ and its sum.
        let mut sum = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let (dx, dy) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
                    let k = 1.0 / (1.0 + dx * dx + dy * dy);
                    q[i * n + j] = k;
                    sum += k;
                }
            }
        }
        for i in 0..n {
            let mut grad = [0.0f64; 2];
            for j in 0..n {
                if i == j {
                    continue;
                }
                let k = q[i * n + j];
                let m = (exaggeration * p[i * n + j] - k / sum) * k;
                grad[0] += 4.0 * m * (y[i][0] - y[j][0]);
                grad[1] += 4.0 * m * (y[i][1] - y[j][1]);
            }
            for d in 0..2 {
                // Gains grow while the gradient keeps its sign against the step.
                let same = (grad[d] > 0.0) == (velocity[i][d] > 0.0);
                gains[i][d] = if same { (gains[i][d] * 0.8).max(0.01) } else { gains[i][d] + 0.2 };
                velocity[i][d] = momentum * velocity[i][d] - learning_rate * gains[i][d] * grad[d];
            }
        }
        for i in 0..n {
            y[i][0] += velocity[i][0];
            y[i][1] += velocity[i][1];
        }
        // Centred, so the map does not drift.
        let (mx, my) = y.iter().fold((0.0, 0.0), |(a, b), v| (a + v[0], b + v[1]));
        let (mx, my) = (mx / n as f64, my / n as f64);
        for v in &mut y {
            v[0] -= mx;
            v[1] -= my;
        }
    }
    y.into_iter().map(|v| (v[0], v[1])).collect()
}

/// A small random start from SplitMix64 (Box-Muller normals, std 1e-4).
fn start(n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    };
    (0..n)
        .map(|_| {
            let (u, v) = (next().max(1e-300), next());
            let r = (-2.0 * u.ln()).sqrt() * 1e-4;
            [r * (std::f64::consts::TAU * v).cos(), r * (std::f64::consts::TAU * v).sin()]
        })
        .collect()
}

/// Symmetrised joint probabilities p_ij, row-major n × n.
fn affinities(points: &[Vec<f32>], perplexity: f64) -> Vec<f64> {
    let n = points.len();
    let mut d2 = vec![0.0f64; n * n];
    for i in 0..n {
        for j in (i + 1)..n {
            let d: f64 = points[i].iter().zip(&points[j]).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum();
            d2[i * n + j] = d;
            d2[j * n + i] = d;
        }
    }
    let target = perplexity.ln();
    let mut p = vec![0.0f64; n * n];
    for i in 0..n {
        let row = &d2[i * n..(i + 1) * n];
        // Distances relative to the nearest neighbour keep exp() in range.
        let nearest = (0..n).filter(|&j| j != i).map(|j| row[j]).fold(f64::INFINITY, f64::min);
        let (mut lo, mut hi, mut beta) = (0.0f64, f64::INFINITY, 1.0f64);
        for _ in 0..64 {
            let mut sum = 0.0;
            let mut weighted = 0.0;
            for j in (0..n).filter(|&j| j != i) {
                let w = (-(row[j] - nearest) * beta).exp();
                sum += w;
                weighted += w * (row[j] - nearest);
            }
            // Entropy of the conditional distribution, in nats.
            let entropy = sum.ln() + beta * weighted / sum;
            if (entropy - target).abs() < 1e-5 {
                break;
            }
            if entropy > target {
                lo = beta;
                beta = if hi.is_infinite() { beta * 2.0 } else { (beta + hi) / 2.0 };
            } else {
                hi = beta;
                beta = (beta + lo) / 2.0;
            }
        }
        let mut sum = 0.0;
        for j in (0..n).filter(|&j| j != i) {
            let w = (-(row[j] - nearest) * beta).exp();
            p[i * n + j] = w;
            sum += w;
        }
        for j in 0..n {
            p[i * n + j] /= sum.max(f64::MIN_POSITIVE);
        }
    }
    let mut joint = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            joint[i * n + j] = ((p[i * n + j] + p[j * n + i]) / (2.0 * n as f64)).max(1e-12);
        }
    }
    joint
}

#[cfg(test)]
mod tests {
    use super::tsne;

    /// Two well-separated clusters in 10-D stay separated in the map.
    #[test]
    fn separated_clusters_stay_apart_and_the_map_is_deterministic() {
        let mut points = Vec::new();
        for c in 0..2 {
            for k in 0..20 {
                let mut v = vec![0.0f32; 10];
                v[c] = 10.0;
                v[2 + k % 8] += 0.1 * (k as f32);
                points.push(v);
            }
        }
        let map = tsne(&points, 5.0, 300, 7);
        assert_eq!(map, tsne(&points, 5.0, 300, 7), "same input, same map");
        // Each point's nearest neighbour on the map is from its own cluster.
        let cluster = |i: usize| i / 20;
        let same = (0..map.len())
            .filter(|&i| {
                let nearest = (0..map.len())
                    .filter(|&j| j != i)
                    .min_by(|&a, &b| {
                        let d = |j: usize| (map[i].0 - map[j].0).powi(2) + (map[i].1 - map[j].1).powi(2);
                        d(a).total_cmp(&d(b))
                    })
                    .unwrap();
                cluster(nearest) == cluster(i)
            })
            .count();
        assert!(same >= 38, "only {same} of 40 points sit next to their own cluster: {map:?}");
    }
}
