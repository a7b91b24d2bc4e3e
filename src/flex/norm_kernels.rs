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

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::buffers::{assume_written, unwritten};
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
    /// `fill(n, c, plane)`, planes in parallel. The output starts unwritten (no zeroing pass
    /// over it: see `buffers::unwritten`).
    ///
    /// # Safety
    /// `fill` writes every value of the plane it is given.
    unsafe fn map_planes(
        &self,
        fill: impl Fn(usize, usize, &mut [MaybeUninit<f32>]) + Sync,
    ) -> Vec<f32> {
        let mut out = unwritten(self.len());
        out.par_chunks_mut(self.plane)
            .enumerate()
            .with_min_len(self.planes_per_task())
            .for_each(|(i, plane)| {
                vectorized(
                    #[inline(always)]
                    || fill(i / self.channels, i % self.channels, plane),
                )
            });
        // SAFETY: every plane went to `fill`, which the caller vouches writes all its values.
        unsafe { assume_written(out) }
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

/// Channel `c`'s sum over the batch.
#[inline(always)]
fn channel_sum(g: &NormGeometry, x: &Batch, c: usize) -> f64 {
    (0..g.batch)
        .map(|n| g.plane(x, n, c))
        .map(|p| lane_sum(p, p, |v, _| v))
        .sum()
}

/// Channel `c`'s sum of squared distances to `mean`.
#[inline(always)]
fn channel_centred_squares(g: &NormGeometry, x: &Batch, c: usize, mean: f32) -> f64 {
    (0..g.batch)
        .map(|n| g.plane(x, n, c))
        .map(|p| lane_sum(p, p, |v, _| (v - mean) * (v - mean)))
        .sum()
}

/// Adds per-channel sums of the other ranks of a data-parallel run to this rank's, in place
/// (batch norm with synchronized statistics); [`this_rank_only`] for a single process.
pub type AcrossRanks<'a> = &'a dyn Fn(&mut [f64]);

/// The statistics of this process's batch alone.
pub fn this_rank_only(_: &mut [f64]) {}

/// Per-channel sums of `per_channel(c)` over channels in parallel, then added across ranks;
/// the last slot of the result is `extra` (a count) added across ranks too.
fn summed_across(
    channels: usize,
    per_channel: impl Fn(usize) -> f64 + Sync,
    extra: f64,
    across: AcrossRanks,
) -> Vec<f64> {
    let mut sums: Vec<f64> = (0..channels)
        .into_par_iter()
        .map(|c| {
            vectorized(
                #[inline(always)]
                || per_channel(c),
            )
        })
        .collect();
    sums.push(extra);
    across(&mut sums);
    sums
}

/// `gamma * (x - mean) / sqrt(variance + eps) + beta` per channel, with the batch's mean and
/// variance, then `max(0, .)` when `relu`. With `across` summing over the ranks of a
/// data-parallel run, the statistics are those of all the ranks' batches together.
pub fn forward(
    g: &NormGeometry,
    x: Batch,
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
    relu: bool,
    across: AcrossRanks,
) -> NormOutput {
    assert_eq!(x.dims(), (g.batch, g.channels * g.plane), "input size");
    assert_eq!(gamma.len(), g.channels, "gamma length");
    assert_eq!(beta.len(), g.channels, "beta length");
    // Two passes, the mean first and then the squared distances to it (accurate where
    // one-pass formulas cancel), each sum added across ranks with the ranks' image count.
    let sums = summed_across(
        g.channels,
        #[inline(always)]
        |c| channel_sum(g, &x, c),
        g.per_channel(),
        across,
    );
    let count = sums[g.channels];
    let mean: Vec<f32> = sums[..g.channels]
        .iter()
        .map(|&s| (s / count) as f32)
        .collect();
    let squares = summed_across(
        g.channels,
        #[inline(always)]
        |c| channel_centred_squares(g, &x, c, mean[c]),
        0.0,
        across,
    );
    let variance: Vec<f32> = squares[..g.channels]
        .iter()
        .map(|&s| (s / count) as f32)
        .collect();
    // y = x * scale + shift, the usual fused form (PyTorch's CPU kernel computes the same).
    let (scale, shift): (Vec<f32>, Vec<f32>) = (0..g.channels)
        .map(|c| {
            let s = (gamma[c] as f64 / (variance[c] as f64 + eps).sqrt()) as f32;
            (s, beta[c] - mean[c] * s)
        })
        .unzip();
    // SAFETY: each plane of the output gets one value per input value, and the planes are
    // as long as the input's.
    let output = unsafe {
        g.map_planes(
            #[inline(always)]
            |n, c, out| {
                let (s, t) = (scale[c], shift[c]);
                let input = g.plane(&x, n, c);
                if relu {
                    for (o, &v) in out.iter_mut().zip(input) {
                        o.write((v * s + t).max(0.0));
                    }
                } else {
                    for (o, &v) in out.iter_mut().zip(input) {
                        o.write(v * s + t);
                    }
                }
            },
        )
    };
    NormOutput {
        output,
        mean,
        variance,
    }
}

/// Gradients of `forward`, given its input, the statistics it returned, its output (whose
/// zeros are the ReLU's mask; unused without the ReLU) and the output's gradient. With
/// statistics synchronized across ranks (`across` as in the forward pass), the input's
/// gradient takes the two per-channel sums of all ranks (each rank's loss depends on every
/// rank's images through the statistics), while `gamma`'s and `beta`'s are this rank's own:
/// the gradient averaging across ranks adds them up.
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
    across: AcrossRanks,
) -> NormGrads {
    assert!(!relu || output.len() == g.len(), "output length");
    assert_eq!(x.dims(), (g.batch, g.channels * g.plane), "input size");
    assert_eq!(grad_output.dims(), x.dims(), "output gradient size");
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
    // This rank's own gradients of gamma and beta.
    let gamma_grad: Vec<f32> = centred
        .iter()
        .zip(&inv_std)
        .map(|(&s, &is)| (s * is as f64) as f32)
        .collect();
    let beta_grad_own: Vec<f32> = beta_grad.iter().map(|&s| s as f32).collect();
    // The same two sums of all ranks, and their count, for the input's gradient.
    let mut totals = [beta_grad, centred].concat();
    totals.push(g.per_channel());
    across(&mut totals);
    let (sum_g, sum_gx, count) = (
        &totals[..g.channels],
        &totals[g.channels..2 * g.channels],
        totals[2 * g.channels],
    );
    // dx = gamma * inv_std * (g - sum(g) / M - (x - mean) * inv_std * sum(g * xhat) / M), with
    // sum(g * xhat) rounded to float32 as gamma's gradient is: one process computes the bits it
    // did before the sums across ranks.
    let coefficients: Vec<(f32, f32, f32)> = (0..g.channels)
        .map(|c| {
            let is = inv_std[c] as f64;
            (
                (gamma[c] as f64 * is) as f32,
                (sum_g[c] / count) as f32,
                ((sum_gx[c] * is) as f32 as f64 * is / count) as f32,
            )
        })
        .collect();
    // SAFETY: each plane of the gradient gets one value per value of the output gradient's
    // plane, which is as long.
    let grad_x = unsafe {
        g.map_planes(
            #[inline(always)]
            |n, c, out| {
                let (k, a, b) = coefficients[c];
                let m = mean[c];
                let (dy, xs) = (g.plane(&grad_output, n, c), g.plane(&x, n, c));
                if relu {
                    let ys = out_plane(n, c);
                    for (((o, &d), &v), &y) in out.iter_mut().zip(dy).zip(xs).zip(ys) {
                        o.write(k * (masked(d, y) - a - (v - m) * b));
                    }
                } else {
                    for ((o, &d), &v) in out.iter_mut().zip(dy).zip(xs) {
                        o.write(k * (d - a - (v - m) * b));
                    }
                }
            },
        )
    };
    NormGrads {
        x: grad_x,
        gamma: gamma_grad,
        beta: beta_grad_own,
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

    /// `forward`, then `backward` of its results with the output gradient `dy` (epsilon 1e-5).
    #[allow(clippy::too_many_arguments)]
    fn forward_and_backward(
        g: &NormGeometry,
        x: &[f32],
        dy: &[f32],
        gamma: &[f32],
        beta: &[f32],
        relu: bool,
        across: AcrossRanks,
    ) -> (NormOutput, NormGrads) {
        let item = g.channels * g.plane;
        let out = forward(
            g,
            Batch::contiguous(x, item),
            gamma,
            beta,
            1e-5,
            relu,
            across,
        );
        let grads = backward(
            g,
            Batch::contiguous(x, item),
            gamma,
            &out.mean,
            &out.variance,
            1e-5,
            &out.output,
            Batch::contiguous(dy, item),
            relu,
            across,
        );
        (out, grads)
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
            let (out, grads) =
                forward_and_backward(&g, &x, &dy, &gamma, &beta, relu, &this_rank_only);
            let (y, dx, dgamma, dbeta) = naive(&g, &x, &gamma, &beta, &dy, relu);
            close(&out.output, &y, "y");
            close(&grads.x, &dx, "dx");
            close(&grads.gamma, &dgamma, "dgamma");
            close(&grads.beta, &dbeta, "dbeta");
        }
    }

    /// Two ranks exchanging sums through shared memory: what an all-reduce does.
    struct TwoRanks {
        slots: std::sync::Mutex<[Vec<f64>; 2]>,
        barrier: std::sync::Barrier,
    }

    impl TwoRanks {
        fn sum(&self, rank: usize, values: &mut [f64]) {
            self.slots.lock().unwrap()[rank] = values.to_vec();
            self.barrier.wait();
            {
                let slots = self.slots.lock().unwrap();
                for (i, v) in values.iter_mut().enumerate() {
                    *v = slots[0][i] + slots[1][i];
                }
            }
            self.barrier.wait();
        }
    }

    /// A batch cut in two halves on two ranks whose statistics are summed across them gives
    /// the whole batch's output and input gradient on each half, and gamma's and beta's
    /// gradients that add up to the whole batch's.
    #[test]
    fn two_halves_synchronized_are_the_whole_batch() {
        let g = NormGeometry {
            batch: 6,
            channels: 4,
            plane: 9,
        };
        let x: Vec<f32> = (0..g.len())
            .map(|i| ((i * 29 % 83) as f32 / 11.0).sin() * 2.0 + 0.7)
            .collect();
        let dy: Vec<f32> = (0..g.len())
            .map(|i| ((i * 41 % 97) as f32 / 5.0).cos())
            .collect();
        let gamma = [0.8, 1.3, 0.5, 1.0];
        let beta = [0.1, -0.2, 0.3, 0.0];
        let (reference, reference_grads) =
            forward_and_backward(&g, &x, &dy, &gamma, &beta, true, &this_rank_only);
        let ranks = TwoRanks {
            slots: Default::default(),
            barrier: std::sync::Barrier::new(2),
        };
        let half = NormGeometry { batch: 3, ..g };
        let halves: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|rank| {
                    let (ranks, x, dy) = (&ranks, &x, &dy);
                    scope.spawn(move || {
                        let part = rank * half.len()..(rank + 1) * half.len();
                        let across = |v: &mut [f64]| ranks.sum(rank, v);
                        let (xs, dys) = (&x[part.clone()], &dy[part]);
                        forward_and_backward(&half, xs, dys, &gamma, &beta, true, &across)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let as_f64 = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
        for (rank, (out, grads)) in halves.iter().enumerate() {
            let part = rank * half.len()..(rank + 1) * half.len();
            close(&out.mean, &as_f64(&reference.mean), "mean");
            close(&out.variance, &as_f64(&reference.variance), "variance");
            close(&out.output, &as_f64(&reference.output[part.clone()]), "y");
            close(&grads.x, &as_f64(&reference_grads.x[part]), "dx");
        }
        let added = |f: fn(&NormGrads) -> &Vec<f32>| -> Vec<f32> {
            (0..g.channels)
                .map(|c| f(&halves[0].1)[c] + f(&halves[1].1)[c])
                .collect()
        };
        close(
            &added(|gr| &gr.gamma),
            &as_f64(&reference_grads.gamma),
            "dgamma",
        );
        close(
            &added(|gr| &gr.beta),
            &as_f64(&reference_grads.beta),
            "dbeta",
        );
    }
}
