//! Batch normalization in training (each channel normalized by the batch's own mean and biased
//! variance, then scaled by `gamma` and shifted by `beta`), with the ReLU that follows it in a
//! conv block fused in, forward and backward, on plain `f32` slices in NCHW layout.
//!
//! Why hand-written: burn 0.22's flex backend runs `batch_norm_train` as burn's generic
//! composition: the statistics through transposed copies, a mean, a centred square and another
//! mean, the output through four broadcast elementwise passes, and the backward through about
//! a dozen more; the ReLU after it adds a pass each way. On GoogLeNet-BN that was about as
//! much time as all the convolutions. Here the forward reads the input three times (the mean,
//! the centred sum of squares: as accurate as the two-pass formula, then the output with the
//! ReLU applied) and the backward twice (two per-channel sums, then the input gradient).
//!
//! Parallelism: channels for the sums, planes (one channel of one image) for the elementwise
//! passes, across rayon's threads.

use rayon::prelude::*;

use super::buffers::zeroed;
use super::image_batch::Batch;
use super::simd::{lane_sum, vectorized};

/// Maps `[batch, channels, h, w]` with `plane = h * w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormGeometry {
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
}

impl NormGeometry {
    fn len(&self) -> usize {
        self.batch * self.channels * self.plane
    }

    /// Values per channel: what each mean is taken over.
    fn per_channel(&self) -> f64 {
        (self.batch * self.plane) as f64
    }

    /// Planes per rayon task in the elementwise passes: about 16 KiB of work each.
    fn planes_per_task(&self) -> usize {
        (4096 / self.plane.max(1)).max(1)
    }

    /// A `[batch, channels, h, w]` output, each plane (channel `c` of image `n`) written by
    /// `fill(n, c, plane)`, planes in parallel.
    fn map_planes(&self, fill: impl Fn(usize, usize, &mut [f32]) + Sync) -> Vec<f32> {
        let mut out = zeroed(self.len());
        out.par_chunks_mut(self.plane)
            .enumerate()
            .with_min_len(self.planes_per_task())
            .for_each(|(i, plane)| {
                vectorized(
                    #[inline(always)]
                    || fill(i / self.channels, i % self.channels, plane),
                )
            });
        out
    }

    /// Channel `c` of image `n`.
    fn plane<'a>(&self, x: &Batch<'a>, n: usize, c: usize) -> &'a [f32] {
        &x.item(n)[c * self.plane..][..self.plane]
    }
}

/// The forward pass's output and the batch statistics (what the running averages take in).
pub struct NormOutput {
    pub output: Vec<f32>,
    pub mean: Vec<f32>,
    /// Biased (divided by the count, not the count minus one), as PyTorch's and burn's running
    /// variance takes it in this framework.
    pub variance: Vec<f32>,
}

/// Gradients of the input, `gamma` and `beta`.
pub struct NormGrads {
    pub x: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// Channel `c`'s mean and biased variance over the batch (two passes: the mean first, then
/// the squared distances to it, which stays accurate where one-pass formulas cancel).
#[inline(always)]
fn channel_statistics(g: &NormGeometry, x: &Batch, c: usize, count: f64) -> (f32, f32) {
    let planes = || (0..g.batch).map(|n| g.plane(x, n, c));
    let mean = planes().map(|p| lane_sum(p, p, |v, _| v)).sum::<f64>() / count;
    let m = mean as f32;
    let var = planes()
        .map(|p| lane_sum(p, p, |v, _| (v - m) * (v - m)))
        .sum::<f64>()
        / count;
    (m, var as f32)
}

/// `gamma * (x - mean) / sqrt(variance + eps) + beta` per channel, with the batch's mean and
/// variance, then `max(0, .)` when `relu`.
pub fn forward(
    g: &NormGeometry,
    x: Batch,
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
    relu: bool,
) -> NormOutput {
    assert_eq!(x.dims(), (g.batch, g.channels * g.plane), "input size");
    assert_eq!(gamma.len(), g.channels, "gamma length");
    assert_eq!(beta.len(), g.channels, "beta length");
    let count = g.per_channel();
    let (mean, variance): (Vec<f32>, Vec<f32>) = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            vectorized(
                #[inline(always)]
                || channel_statistics(g, &x, c, count),
            )
        })
        .unzip();
    // y = x * scale + shift, the usual fused form (PyTorch's CPU kernel computes the same).
    let (scale, shift): (Vec<f32>, Vec<f32>) = (0..g.channels)
        .map(|c| {
            let s = (gamma[c] as f64 / (variance[c] as f64 + eps).sqrt()) as f32;
            (s, beta[c] - mean[c] * s)
        })
        .unzip();
    let output = g.map_planes(
        #[inline(always)]
        |n, c, out| {
            let (s, t) = (scale[c], shift[c]);
            let input = g.plane(&x, n, c);
            if relu {
                for (o, &v) in out.iter_mut().zip(input) {
                    *o = (v * s + t).max(0.0);
                }
            } else {
                for (o, &v) in out.iter_mut().zip(input) {
                    *o = v * s + t;
                }
            }
        },
    );
    NormOutput {
        output,
        mean,
        variance,
    }
}

/// Gradients of `forward`, given its input, the statistics it returned, its output (whose
/// zeros are the ReLU's mask; unused without the ReLU) and the output's gradient.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    g: &NormGeometry,
    x: Batch,
    gamma: &[f32],
    mean: &[f32],
    variance: &[f32],
    eps: f64,
    output: &[f32],
    grad_output: Batch,
    relu: bool,
) -> NormGrads {
    assert!(!relu || output.len() == g.len(), "output length");
    assert_eq!(x.dims(), (g.batch, g.channels * g.plane), "input size");
    assert_eq!(grad_output.dims(), x.dims(), "output gradient size");
    let count = g.per_channel();
    let out_plane = |n: usize, c: usize| &output[(n * g.channels + c) * g.plane..][..g.plane];
    // The gradient reaching the normalization: the output's, where the ReLU let it through.
    let masked = |dy: f32, y: f32| if relu && y <= 0.0 { 0.0 } else { dy };
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|&v| (1.0 / (v as f64 + eps).sqrt()) as f32)
        .collect();
    // Per channel: sum(g) (beta's gradient) and sum(g * (x - mean)).
    let (beta_grad, centred): (Vec<f64>, Vec<f64>) = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            vectorized(
                #[inline(always)]
                || {
                    let m = mean[c];
                    let (mut sum_g, mut sum_gx) = (0f64, 0f64);
                    let mut masked_plane = vec![0f32; g.plane];
                    for n in 0..g.batch {
                        let dy = g.plane(&grad_output, n, c);
                        let gp: &[f32] = if relu {
                            for ((o, &d), &y) in
                                masked_plane.iter_mut().zip(dy).zip(out_plane(n, c))
                            {
                                *o = masked(d, y);
                            }
                            &masked_plane
                        } else {
                            dy
                        };
                        sum_g += lane_sum(gp, gp, |d, _| d);
                        sum_gx += lane_sum(gp, g.plane(&x, n, c), |d, v| d * (v - m));
                    }
                    (sum_g, sum_gx)
                },
            )
        })
        .unzip();
    let gamma_grad: Vec<f32> = centred
        .iter()
        .zip(&inv_std)
        .map(|(&s, &is)| (s * is as f64) as f32)
        .collect();
    // dx = gamma * inv_std * (g - sum(g) / M - (x - mean) * inv_std * gamma_grad / M)
    let coefficients: Vec<(f32, f32, f32)> = (0..g.channels)
        .map(|c| {
            let is = inv_std[c] as f64;
            (
                (gamma[c] as f64 * is) as f32,
                (beta_grad[c] / count) as f32,
                (gamma_grad[c] as f64 * is / count) as f32,
            )
        })
        .collect();
    let grad_x = g.map_planes(
        #[inline(always)]
        |n, c, out| {
            let (k, a, b) = coefficients[c];
            let m = mean[c];
            let (dy, xs) = (g.plane(&grad_output, n, c), g.plane(&x, n, c));
            if relu {
                let ys = out_plane(n, c);
                for (((o, &d), &v), &y) in out.iter_mut().zip(dy).zip(xs).zip(ys) {
                    *o = k * (masked(d, y) - a - (v - m) * b);
                }
            } else {
                for ((o, &d), &v) in out.iter_mut().zip(dy).zip(xs) {
                    *o = k * (d - a - (v - m) * b);
                }
            }
        },
    );
    NormGrads {
        x: grad_x,
        gamma: gamma_grad,
        beta: beta_grad.iter().map(|&s| s as f32).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook formulas in float64, one value at a time.
    fn naive(
        g: &NormGeometry,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        dy: &[f32],
        relu: bool,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let eps = 1e-5;
        let at = |n: usize, c: usize, i: usize| (n * g.channels + c) * g.plane + i;
        let m = g.per_channel();
        let (mut y, mut dx) = (vec![0f64; g.len()], vec![0f64; g.len()]);
        let (mut dgamma, mut dbeta) = (vec![0f64; g.channels], vec![0f64; g.channels]);
        for c in 0..g.channels {
            let idx: Vec<usize> = (0..g.batch)
                .flat_map(|n| (0..g.plane).map(move |i| at(n, c, i)))
                .collect();
            let mean = idx.iter().map(|&j| x[j] as f64).sum::<f64>() / m;
            let var = idx
                .iter()
                .map(|&j| (x[j] as f64 - mean).powi(2))
                .sum::<f64>()
                / m;
            let is = 1.0 / (var + eps).sqrt();
            let mut gs = Vec::new();
            for &j in &idx {
                let xhat = (x[j] as f64 - mean) * is;
                let z = gamma[c] as f64 * xhat + beta[c] as f64;
                y[j] = if relu { z.max(0.0) } else { z };
                let gr = if relu && z <= 0.0 { 0.0 } else { dy[j] as f64 };
                gs.push((j, gr, xhat));
            }
            dbeta[c] = gs.iter().map(|t| t.1).sum();
            dgamma[c] = gs.iter().map(|t| t.1 * t.2).sum();
            for &(j, gr, xhat) in &gs {
                dx[j] = gamma[c] as f64 * is * (gr - dbeta[c] / m - xhat * dgamma[c] / m);
            }
        }
        (y, dx, dgamma, dbeta)
    }

    fn close(ours: &[f32], reference: &[f64], what: &str) {
        let scale = reference
            .iter()
            .fold(0f64, |a, &b| a.max(b.abs()))
            .max(1e-12);
        for (i, (&a, &b)) in ours.iter().zip(reference).enumerate() {
            assert!(
                (a as f64 - b).abs() / scale < 1e-5,
                "{what}[{i}]: {a} against {b}"
            );
        }
    }

    #[test]
    fn matches_the_textbook_formulas() {
        for (g, relu) in [
            (
                NormGeometry {
                    batch: 3,
                    channels: 5,
                    plane: 7 * 5,
                },
                true,
            ),
            (
                NormGeometry {
                    batch: 2,
                    channels: 3,
                    plane: 40,
                },
                false,
            ),
            (
                NormGeometry {
                    batch: 4,
                    channels: 2,
                    plane: 1,
                },
                true,
            ),
        ] {
            // Deterministic values with an offset, so the mean matters.
            let x: Vec<f32> = (0..g.len())
                .map(|i| ((i * 37 % 101) as f32 / 17.0).sin() * 3.0 + 1.5)
                .collect();
            let dy: Vec<f32> = (0..g.len())
                .map(|i| ((i * 53 % 89) as f32 / 7.0).cos())
                .collect();
            let gamma: Vec<f32> = (0..g.channels).map(|c| 0.5 + c as f32 * 0.3).collect();
            let beta: Vec<f32> = (0..g.channels).map(|c| c as f32 * 0.2 - 0.3).collect();
            let item = g.channels * g.plane;
            let out = forward(&g, Batch::contiguous(&x, item), &gamma, &beta, 1e-5, relu);
            let grads = backward(
                &g,
                Batch::contiguous(&x, item),
                &gamma,
                &out.mean,
                &out.variance,
                1e-5,
                &out.output,
                Batch::contiguous(&dy, item),
                relu,
            );
            let (y, dx, dgamma, dbeta) = naive(&g, &x, &gamma, &beta, &dy, relu);
            close(&out.output, &y, "y");
            close(&grads.x, &dx, "dx");
            close(&grads.gamma, &dgamma, "dgamma");
            close(&grads.beta, &dbeta, "dbeta");
        }
    }
}
