//! A 2-d convolution with bias and optional ReLU, forward and backward, on plain `f32` slices
//! in NCHW layout: im2col (`patches`) + GEMM (the `gemm` crate, which burn's flex backend also
//! uses), with 1x1 stride-1 convolutions as one GEMM straight on the input. The weight gradient
//! of a stride-1 convolution with few output channels on large maps is computed without im2col
//! (`weight_grad`).
//!
//! Why hand-written: burn 0.22's flex backend has no convolution backward of its own. Its
//! generic fallback computes the input gradient as a transposed convolution and the weight
//! gradient as a convolution with batch and channels swapped, each round-tripping through
//! NHWC; here both gradients are one GEMM per image, the input kept in NCHW, and the ReLU mask,
//! bias gradient and bias/ReLU of the forward pass are fused into the same loops.
//!
//! Parallelism: images are split across rayon's threads, each running single-threaded GEMMs
//! (an image's matrices are small; splitting the batch keeps every thread busy without
//! synchronisation). With fewer images than threads, the GEMMs themselves are parallel.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::buffers::zeroed;
use super::conv_geometry::ConvGeometry;
use super::image_batch::{Batch, BatchMut};
use super::matmul::{matmul, matmul_inner_split, matmul_row_split, matmul_write, Mat};
use super::patches::Patches;
use super::simd::{lane_sum, vectorized};
use super::tap_conv;
use super::weight_grad;

/// Gradients of a convolution's three inputs.
pub struct ConvGrads {
    /// `[n, c_in, h, w]`, when asked for.
    pub x: Option<Vec<f32>>,
    /// `[c_out, c_in, k, k]`.
    pub weight: Vec<f32>,
    /// `[c_out]`.
    pub bias: Vec<f32>,
}

/// How a batch is cut up: contiguous runs of images, one per thread when there are enough
/// images (each thread then runs single-threaded GEMMs), else one run with parallel GEMMs;
/// within a run, groups of images side by side in one GEMM, so that a GEMM is at least
/// `GEMM_MIN_WIDTH` columns wide even when the planes are small (6x6 and 3x3 in GoogLeNet's
/// last blocks: one image alone would make a GEMM of 36 or 9 columns).
struct Split {
    per_run: usize,
    group: usize,
    gemm: gemm::Parallelism,
    split: bool,
    /// With fewer images than threads, the forward GEMM's output channels cut into one block
    /// per thread (`matmul_row_split`) instead of `gemm`'s own parallelism.
    row_split: bool,
}

const GEMM_MIN_WIDTH: usize = 512;

/// Output channels per thread, at least, for `Split::row_split`. Measured at batch 1 on a
/// 2-core Intel Xeon with AVX-512 (`bench --profile`, alternating): AlexNet's 5x5 convolution
/// (256 output channels) took 4.2-4.5 ms cut by rows against 5.1-5.7 ms in `gemm`'s parallel
/// mode, its 3x3 ones (384) 1.2-1.8 against 1.4-2.2 ms; but VGG-11-small's layers of 8 to 32
/// output channels over 224x224 maps were slower cut by rows (its inference 0.89x).
const ROW_SPLIT_MIN_ROWS: usize = 48;

impl Split {
    fn new(g: &ConvGeometry) -> Self {
        let threads = rayon::current_num_threads();
        let split = g.batch >= threads;
        let per_run = if split {
            g.batch.div_ceil(threads)
        } else {
            g.batch
        };
        let group = GEMM_MIN_WIDTH.div_ceil(g.out_plane()).clamp(1, per_run);
        let gemm = if split {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(threads)
        };
        Self {
            per_run,
            group,
            gemm,
            split,
            row_split: !split && g.c_out >= ROW_SPLIT_MIN_ROWS * threads,
        }
    }
}

/// `relu(conv(x, weight) + bias)` (or without the ReLU), as `[n, c_out, oh, ow]`: `forward_into`
/// a new output, for the unit tests (the operations write through `forward_into`).
#[cfg(test)]
pub fn forward(g: &ConvGeometry, x: Batch, weight: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
    let write = |out: BatchMut| forward_into(g, x, weight, bias, relu, out);
    // SAFETY: `forward_into` writes every value of every image it is handed.
    unsafe { super::image_batch::written(g.batch, g.out_item(), write) }
}

/// `forward`, written into `out`: `g.batch` images of `[c_out, oh, ow]`, where they lie, such
/// as one path's channels of an Inception block's concatenated output. Writes every value of
/// those images and nothing else.
pub fn forward_into(
    g: &ConvGeometry,
    x: Batch,
    weight: &[f32],
    bias: &[f32],
    relu: bool,
    out: BatchMut,
) {
    check_lengths(g, &x, weight);
    assert_eq!(bias.len(), g.c_out, "bias length");
    let (out_item, plane, patch) = (g.out_item(), g.out_plane(), g.patch_len());
    assert_eq!(out.dims(), (g.batch, out_item), "output images");
    let sched = Split::new(g);
    let patches = Patches::new(g);
    let taps = tap_conv::applies(g, !sched.split);
    let one_run = |(run, mut out_run): (usize, BatchMut)| {
        if taps {
            for j in 0..out_run.dims().0 {
                let x = x.item(run * sched.per_run + j);
                let out_image = out_run.item_mut(j);
                tap_conv::forward_image(g, x, weight, bias, relu, out_image, !sched.split);
            }
            return;
        }
        let (mut col, mut y) = (Vec::new(), Vec::new());
        for (k, mut out_group) in out_run.runs(sched.group).into_iter().enumerate() {
            let first = run * sched.per_run + k * sched.group;
            let images = out_group.dims().0;
            let width = images * plane;
            let rhs = group_patches(
                g,
                &patches,
                x,
                first..first + images,
                &mut col,
                !sched.split,
            );
            // y[c_out x width] = weight[c_out x patch] · rhs[patch x width], straight into the
            // output when the group is one image.
            let (lhs, rhs) = (Mat::row_major(weight, patch), Mat::row_major(rhs, width));
            let product = |dst: &mut [MaybeUninit<f32>]| {
                if sched.row_split {
                    matmul_row_split(dst, (g.c_out, width, patch), lhs, rhs);
                } else {
                    matmul_write(dst, (g.c_out, width, patch), lhs, rhs, sched.gemm);
                }
            };
            if images == 1 {
                let out_image = out_group.item_mut(0);
                product(out_image);
                // SAFETY: the product wrote all c_out x plane values of the image.
                let out_image = unsafe { out_image.assume_init_mut() };
                vectorized(
                    #[inline(always)]
                    || {
                        for (row, &b) in out_image.chunks_exact_mut(plane).zip(bias) {
                            row.iter_mut().for_each(|v| *v = biased(*v, b, relu));
                        }
                    },
                );
            } else {
                y.resize(g.c_out * width, MaybeUninit::uninit());
                product(&mut y);
                // SAFETY: the product wrote all c_out x width values of `y`.
                let y = unsafe { y.assume_init_ref() };
                // From [c_out][image][plane] back to NCHW's [image][c_out][plane], the bias
                // added on the way.
                vectorized(
                    #[inline(always)]
                    || {
                        for j in 0..images {
                            let out_image = out_group.item_mut(j);
                            for (co, row) in out_image.chunks_exact_mut(plane).enumerate() {
                                let src = &y[co * width + j * plane..][..plane];
                                for (d, &v) in row.iter_mut().zip(src) {
                                    d.write(biased(v, bias[co], relu));
                                }
                            }
                        }
                    },
                );
            }
        }
    };
    // The runs cover the batch and each of their groups is written whole: by the product
    // straight into the output for one image, row by row from `y` for several.
    let runs = out.runs(sched.per_run).into_iter().enumerate();
    if sched.split {
        runs.collect::<Vec<_>>().into_par_iter().for_each(one_run);
    } else {
        runs.for_each(one_run);
    }
}

/// Gradients of `forward` given the gradient of its output. `output` is what `forward`
/// returned (read in place, also as a channel slice of a joined output); with `relu` its zeros
/// mask the incoming gradient. The input gradient is computed only when `need_x` (a network's
/// first layer does not need it).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    g: &ConvGeometry,
    x: Batch,
    weight: &[f32],
    output: Batch,
    grad_output: Batch,
    relu: bool,
    need_x: bool,
) -> ConvGrads {
    check_lengths(g, &x, weight);
    let (out_item, in_item, plane, patch) =
        (g.out_item(), g.in_item(), g.out_plane(), g.patch_len());
    assert_eq!(output.dims(), (g.batch, out_item), "output size");
    assert_eq!(
        grad_output.dims(),
        (g.batch, out_item),
        "output gradient size"
    );
    let sched = Split::new(g);
    let patches = Patches::new(g);
    let mut grad_x = if need_x {
        zeroed(g.batch * in_item)
    } else {
        Vec::new()
    };
    let run_count = g.batch.div_ceil(sched.per_run);
    let x_runs: Vec<Option<&mut [f32]>> = if need_x {
        grad_x
            .chunks_mut(sched.per_run * in_item)
            .map(Some)
            .collect()
    } else {
        (0..run_count).map(|_| None).collect()
    };

    // The input gradient as a convolution of the output gradient (`tap_conv`), where that one
    // takes the per-tap path: its geometry, weights and (zero) bias.
    let by_taps = need_x
        .then(|| tap_conv::input_gradient_by_taps(g, !sched.split))
        .flatten()
        .map(|t| (t, tap_conv::flipped_weights(g, weight), vec![0.0; g.c_in]));
    let one_run = |(run, mut grad_x_run): (usize, Option<&mut [f32]>)| {
        let mut grad_w = vec![0.0f32; g.c_out * patch];
        let mut grad_b = vec![0.0f32; g.c_out];
        let (mut dy, mut col) = (Vec::new(), Vec::new());
        let first = run * sched.per_run;
        let last = (first + sched.per_run).min(g.batch);
        for group_start in (first..last).step_by(sched.group) {
            let images = sched.group.min(last - group_start);
            let width = images * plane;
            // dy[c_out x width]: the output gradient of the group's images side by side,
            // zero where the ReLU was off; the bias gradient summed on the way.
            dy.resize(g.c_out * width, 0.0);
            let group = group_start..group_start + images;
            let per_task = channels_per_task(!sched.split, g.c_out, width);
            let one_task = |(t, (dy_rows, gb)): (usize, (&mut [f32], &mut [f32]))| {
                let rows = dy_rows.chunks_exact_mut(width).zip(gb.iter_mut());
                for (c, (dy_row, gb)) in rows.enumerate() {
                    let co = t * per_task + c;
                    vectorized(
                        #[inline(always)]
                        || {
                            output_gradient(
                                g,
                                grad_output,
                                output,
                                group.clone(),
                                relu,
                                co,
                                dy_row,
                                gb,
                            )
                        },
                    );
                }
            };
            let tasks = dy[..g.c_out * width]
                .par_chunks_mut(per_task * width)
                .zip(grad_b.par_chunks_mut(per_task));
            tasks.enumerate().for_each(one_task);
            // grad_w[c_out x patch] += dy[c_out x width] · im2col(group)ᵀ[width x patch]
            if weight_grad::applies(g, !sched.split) {
                let dy = &dy[..g.c_out * width];
                weight_grad::accumulate(g, x, group.clone(), dy, &mut grad_w, !sched.split);
            } else {
                let cols = group_patches(g, &patches, x, group.clone(), &mut col, !sched.split);
                let shape = (g.c_out, patch, width);
                let (dy_mat, cols_t) = (Mat::row_major(&dy, width), Mat::col_major(cols, width));
                if sched.split {
                    matmul(&mut grad_w, shape, dy_mat, cols_t, true, sched.gemm);
                } else {
                    matmul_inner_split(&mut grad_w, shape, dy_mat, cols_t, true);
                }
            }
            if let Some(gx_run) = grad_x_run.as_deref_mut() {
                let gx_group = &mut gx_run[(group_start - first) * in_item..][..images * in_item];
                // d_cols[patch x width] = weightᵀ[patch x c_out] · dy[c_out x width]
                let weight_t = Mat::col_major(weight, patch);
                let dy_mat = Mat::row_major(&dy, width);
                let shape = (patch, width, g.c_out);
                if let (Some((t, flipped, no_bias)), 1) = (&by_taps, images) {
                    let dy = &dy[..g.c_out * width];
                    // SAFETY: `MaybeUninit<f32>` is laid out as `f32`, and `forward_image` only
                    // writes initialized floats into it (every one of them).
                    let gx = unsafe { &mut *(gx_group as *mut [f32] as *mut [MaybeUninit<f32>]) };
                    tap_conv::forward_image(t, dy, flipped, no_bias, false, gx, !sched.split);
                } else if g.is_pointwise() && images == 1 {
                    matmul(gx_group, shape, weight_t, dy_mat, false, sched.gemm);
                } else {
                    col.resize(patch * width, 0.0);
                    matmul(&mut col, shape, weight_t, dy_mat, false, sched.gemm);
                    for (j, gx_item) in gx_group.chunks_exact_mut(in_item).enumerate() {
                        col2im_image(
                            g,
                            &patches,
                            &mut col,
                            j * plane,
                            width,
                            gx_item,
                            !sched.split,
                        );
                    }
                }
            }
        }
        (grad_w, grad_b)
    };
    let add = |(mut w1, mut b1): (Vec<f32>, Vec<f32>), (w2, b2): (Vec<f32>, Vec<f32>)| {
        w1.iter_mut().zip(&w2).for_each(|(a, b)| *a += b);
        b1.iter_mut().zip(&b2).for_each(|(a, b)| *a += b);
        (w1, b1)
    };
    let runs = x_runs.into_iter().enumerate();
    let (grad_w, grad_b) = if sched.split {
        runs.collect::<Vec<_>>()
            .into_par_iter()
            .map(one_run)
            .reduce_with(add)
    } else {
        runs.map(one_run).reduce(add)
    }
    .expect("a convolution over an empty batch");
    ConvGrads {
        x: need_x.then_some(grad_x),
        weight: grad_w,
        bias: grad_b,
    }
}

/// Output channel `co`'s gradient for a group of images laid side by side in `dy_row` (its row
/// of `dy`, `[c_out x width]`), masked by the ReLU, with its sum added to `grad_b` (image by
/// image, in order, whichever thread runs the channel).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn output_gradient(
    g: &ConvGeometry,
    grad_output: Batch,
    output: Batch,
    images: std::ops::Range<usize>,
    relu: bool,
    co: usize,
    dy_row: &mut [f32],
    grad_b: &mut f32,
) {
    let plane = g.out_plane();
    for (j, i) in images.enumerate() {
        let dst = &mut dy_row[j * plane..][..plane];
        let src = &grad_output.item(i)[co * plane..][..plane];
        if relu {
            let y = &output.item(i)[co * plane..][..plane];
            for ((d, &s), &y) in dst.iter_mut().zip(src).zip(y) {
                *d = if y > 0.0 { s } else { 0.0 };
            }
        } else {
            dst.copy_from_slice(src);
        }
        *grad_b += lane_sum(dst, dst, |d, _| d) as f32;
    }
}

/// The im2col matrix `[patch x (images * plane)]` of a group of images side by side: the input
/// itself for one image under a 1x1 stride-1 kernel, else built in `col`; with `parallel`, the
/// input channels split across rayon's threads (a batch smaller than the thread count, where
/// the images are not).
fn group_patches<'a>(
    g: &ConvGeometry,
    patches: &Patches,
    x: Batch<'a>,
    images: std::ops::Range<usize>,
    col: &'a mut Vec<f32>,
    parallel: bool,
) -> &'a [f32] {
    let plane = g.out_plane();
    if g.is_pointwise() && images.len() == 1 {
        return x.item(images.start);
    }
    let width = images.len() * plane;
    col.resize(g.patch_len() * width, 0.0);
    let taps = g.kernel * g.kernel;
    let per_task = channels_per_task(parallel, g.c_in, taps * plane);
    for (j, i) in images.enumerate() {
        // Channel c's rows of `col` are one contiguous block of k² rows.
        let image = x.item(i);
        col.par_chunks_mut(per_task * taps * width)
            .enumerate()
            .for_each(|(task, rows)| {
                let channels = task * per_task..((task + 1) * per_task).min(g.c_in);
                patches.im2col(image, channels, &mut rows[j * plane..], width);
            });
    }
    col
}

/// Adds image `j`'s columns of `col` (starting at column `offset`, rows `width` apart) back
/// onto its input gradient `gx_item`; with `parallel`, the input channels split across rayon's
/// threads.
fn col2im_image(
    g: &ConvGeometry,
    patches: &Patches,
    col: &mut [f32],
    offset: usize,
    width: usize,
    gx_item: &mut [f32],
    parallel: bool,
) {
    let taps = g.kernel * g.kernel;
    let per_task = channels_per_task(parallel, g.c_in, taps * g.out_plane());
    col.par_chunks_mut(per_task * taps * width)
        .zip(gx_item.par_chunks_mut(per_task * g.h * g.w))
        .for_each(|(rows, channels)| patches.col2im_add(&mut rows[offset..], width, channels));
}

/// Values a rayon task handles, at least, when a batch smaller than the thread count is split
/// by channels: about 128 KiB. One task per channel made GoogLeNet's small maps slower than
/// one thread (its 6x6 and 3x3 planes are a few hundred values).
const MIN_TASK: usize = 1 << 15;

/// Channels per rayon task when each of `channels` channels is `per_channel` values of work:
/// tasks of about `MIN_TASK` values with `parallel` (the images are not split across threads),
/// else every channel in one task.
fn channels_per_task(parallel: bool, channels: usize, per_channel: usize) -> usize {
    if !parallel {
        return channels;
    }
    MIN_TASK
        .div_ceil(per_channel.max(1))
        .clamp(1, channels.max(1))
}

/// `v + bias`, through the ReLU with `relu`.
#[inline(always)]
fn biased(v: f32, bias: f32, relu: bool) -> f32 {
    if relu {
        (v + bias).max(0.0)
    } else {
        v + bias
    }
}

fn check_lengths(g: &ConvGeometry, x: &Batch, weight: &[f32]) {
    assert!(g.batch > 0, "a convolution over an empty batch");
    assert_eq!(x.dims(), (g.batch, g.in_item()), "input size");
    assert_eq!(weight.len(), g.c_out * g.patch_len(), "weight length");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::test_values::{assert_close, in_pool, naive_forward, values};

    #[test]
    fn forward_matches_the_definition_for_strides_paddings_and_kernels() {
        for (batch, c_in, h, w, c_out, kernel, stride, padding) in [
            (2, 3, 7, 6, 4, 3, 1, 1),
            (3, 2, 9, 9, 5, 5, 2, 2),
            (1, 4, 5, 5, 3, 1, 1, 0),
            (2, 1, 11, 11, 2, 7, 2, 3),
            (2, 3, 6, 6, 2, 3, 3, 0),
            (4, 3, 1, 1, 2, 5, 1, 2),
            (5, 2, 2, 3, 3, 3, 1, 1),
        ] {
            let g = ConvGeometry {
                batch,
                c_in,
                h,
                w,
                c_out,
                kernel,
                stride,
                padding,
            };
            let x = values(batch * c_in * h * w, 1);
            let wt = values(c_out * c_in * kernel * kernel, 2);
            let b = values(c_out, 3);
            let expected = naive_forward(&g, &x, &wt, &b);
            let got = forward(&g, Batch::contiguous(&x, g.in_item()), &wt, &b, false);
            for (e, o) in expected.iter().zip(&got) {
                assert!((e - o).abs() < 1e-4, "{g:?}: {e} vs {o}");
            }
            let got_relu = forward(&g, Batch::contiguous(&x, g.in_item()), &wt, &b, true);
            for (e, o) in expected.iter().zip(&got_relu) {
                assert!((e.max(0.0) - o).abs() < 1e-4, "{g:?} with ReLU");
            }
        }
    }

    #[test]
    fn one_image_on_several_threads_gives_the_gradients_of_one_thread() {
        // A batch smaller than the thread count splits channels and the weight gradient's
        // inner dimension across threads instead of images: the same numbers as one thread.
        // Sizes that make several tasks of channels (above `MIN_TASK` values per channel),
        // one too small to split, and one with enough output channels for the forward GEMM to
        // be cut by rows (`ROW_SPLIT_MIN_ROWS` on each of 3 threads).
        for (c_in, h, c_out, kernel, stride, padding) in [
            (8, 64, 20, 3, 1, 1),
            (4, 12, 3 * ROW_SPLIT_MIN_ROWS + 5, 3, 1, 1),
            (6, 90, 12, 5, 2, 2),
            (40, 48, 40, 1, 1, 0),
            (2, 33, 3, 7, 2, 3),
        ] {
            let g = ConvGeometry {
                batch: 1,
                c_in,
                h,
                w: h,
                c_out,
                kernel,
                stride,
                padding,
            };
            let x = values(g.in_item(), 10);
            let wt = values(c_out * g.patch_len(), 11);
            let b = values(c_out, 12);
            let run = |threads| {
                in_pool(threads, || {
                    let x = Batch::contiguous(&x, g.in_item());
                    let y = forward(&g, x, &wt, &b, true);
                    let dy = values(y.len(), 13);
                    let dy_batch = Batch::contiguous(&dy, g.out_item());
                    let y_batch = Batch::contiguous(&y, g.out_item());
                    let grads = backward(&g, x, &wt, y_batch, dy_batch, true, true);
                    (y, grads)
                })
            };
            let ((y1, g1), (y3, g3)) = (run(1), run(3));
            assert_close(&format!("{g:?} output"), &y1, &y3);
            assert_close(&format!("{g:?} weight"), &g1.weight, &g3.weight);
            assert_close(&format!("{g:?} bias"), &g1.bias, &g3.bias);
            let (x1, x3) = (g1.x.unwrap(), g3.x.unwrap());
            assert_close(&format!("{g:?} input"), &x1, &x3);
        }
    }
}
