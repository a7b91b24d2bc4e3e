//! A 2-d convolution with bias and optional ReLU, forward and backward, on plain `f32` slices
//! in NCHW layout: im2col + GEMM (the `gemm` crate, which burn's flex backend also uses), with
//! 1x1 stride-1 convolutions as one GEMM straight on the input. The weight gradient of a
//! stride-1 convolution with few output channels on large maps is computed without im2col
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

use super::buffers::{assume_written, unwritten, zeroed};
use super::conv_geometry::ConvGeometry;
use super::image_batch::Batch;
use super::matmul::{matmul, matmul_inner_split, matmul_row_split, matmul_write, Mat};
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

/// `relu(conv(x, weight) + bias)` (or without the ReLU), as `[n, c_out, oh, ow]`.
pub fn forward(g: &ConvGeometry, x: Batch, weight: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
    check_lengths(g, &x, weight);
    assert_eq!(bias.len(), g.c_out, "bias length");
    let (out_item, plane, patch) = (g.out_item(), g.out_plane(), g.patch_len());
    let sched = Split::new(g);
    let mut out = unwritten(g.batch * out_item);
    let taps = tap_conv::applies(g, !sched.split);
    let one_run = |(run, out_run): (usize, &mut [MaybeUninit<f32>])| {
        if taps {
            for (j, out_image) in out_run.chunks_mut(out_item).enumerate() {
                let x = x.item(run * sched.per_run + j);
                tap_conv::forward_image(g, x, weight, bias, relu, out_image, !sched.split);
            }
            return;
        }
        let (mut col, mut y) = (Vec::new(), Vec::new());
        for (k, out_group) in out_run.chunks_mut(sched.group * out_item).enumerate() {
            let first = run * sched.per_run + k * sched.group;
            let images = out_group.len() / out_item;
            let width = images * plane;
            let rhs = group_patches(g, x, first..first + images, &mut col, !sched.split);
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
                product(out_group);
                // SAFETY: the product wrote all c_out x plane values of the image.
                let out_image = unsafe { out_group.assume_init_mut() };
                for (row, &b) in out_image.chunks_exact_mut(plane).zip(bias) {
                    add_bias(row, b, relu);
                }
            } else {
                y.resize(g.c_out * width, MaybeUninit::uninit());
                product(&mut y);
                // SAFETY: the product wrote all c_out x width values of `y`.
                let y = unsafe { y.assume_init_ref() };
                // From [c_out][image][plane] back to NCHW's [image][c_out][plane].
                for (j, out_item_slice) in out_group.chunks_exact_mut(out_item).enumerate() {
                    for (co, row) in out_item_slice.chunks_exact_mut(plane).enumerate() {
                        let row = row.write_copy_of_slice(&y[co * width + j * plane..][..plane]);
                        add_bias(row, bias[co], relu);
                    }
                }
            }
        }
    };
    let runs = out.chunks_mut(sched.per_run * out_item).enumerate();
    if sched.split {
        runs.collect::<Vec<_>>().into_par_iter().for_each(one_run);
    } else {
        runs.for_each(one_run);
    }
    // SAFETY: the runs cover the batch, their groups each run, and each group's values were
    // all written: by the product straight into the output for one image, row by row from `y`
    // for several.
    unsafe { assume_written(out) }
}

/// Gradients of `forward` given the gradient of its output. `output` is what `forward`
/// returned; with `relu` its zeros mask the incoming gradient. The input gradient is computed
/// only when `need_x` (a network's first layer does not need it).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    g: &ConvGeometry,
    x: Batch,
    weight: &[f32],
    output: &[f32],
    grad_output: Batch,
    relu: bool,
    need_x: bool,
) -> ConvGrads {
    check_lengths(g, &x, weight);
    let (out_item, in_item, plane, patch) =
        (g.out_item(), g.in_item(), g.out_plane(), g.patch_len());
    assert_eq!(output.len(), g.batch * out_item, "output length");
    assert_eq!(
        grad_output.dims(),
        (g.batch, out_item),
        "output gradient size"
    );
    let sched = Split::new(g);
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
                let cols = group_patches(g, x, group.clone(), &mut col, !sched.split);
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
                        col2im_image(g, &mut col, j * plane, width, gx_item, !sched.split);
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
    output: &[f32],
    images: std::ops::Range<usize>,
    relu: bool,
    co: usize,
    dy_row: &mut [f32],
    grad_b: &mut f32,
) {
    let (out_item, plane) = (g.out_item(), g.out_plane());
    for (j, i) in images.enumerate() {
        let dst = &mut dy_row[j * plane..][..plane];
        let src = &grad_output.item(i)[co * plane..][..plane];
        if relu {
            let y = &output[i * out_item + co * plane..][..plane];
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
        col.par_chunks_mut(per_task * taps * width)
            .zip(x.item(i).par_chunks(per_task * g.h * g.w))
            .for_each(|(rows, channels)| im2col(g, channels, &mut rows[j * plane..], width));
    }
    col
}

/// Adds image `j`'s columns of `col` (starting at column `offset`, rows `width` apart) back
/// onto its input gradient `gx_item`; with `parallel`, the input channels split across rayon's
/// threads.
fn col2im_image(
    g: &ConvGeometry,
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
        .for_each(|(rows, channels)| {
            vectorized(
                #[inline(always)]
                || col2im_add(g, &mut rows[offset..], width, channels),
            )
        });
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

fn add_bias(row: &mut [f32], bias: f32, relu: bool) {
    if relu {
        row.iter_mut().for_each(|v| *v = (*v + bias).max(0.0));
    } else {
        row.iter_mut().for_each(|v| *v += bias);
    }
}

fn check_lengths(g: &ConvGeometry, x: &Batch, weight: &[f32]) {
    assert!(g.batch > 0, "a convolution over an empty batch");
    assert_eq!(x.dims(), (g.batch, g.in_item()), "input size");
    assert_eq!(weight.len(), g.c_out * g.patch_len(), "weight length");
}

/// Output positions `o` in `0..out_len` whose input index `o * stride + offset - padding`
/// falls inside `0..in_len`, as a half-open range.
fn valid_outputs(
    out_len: usize,
    in_len: usize,
    stride: usize,
    offset: usize,
    padding: usize,
) -> (usize, usize) {
    let lo = padding.saturating_sub(offset).div_ceil(stride);
    let hi = (in_len + padding).saturating_sub(offset).div_ceil(stride);
    (lo.min(out_len), hi.min(out_len).max(lo.min(out_len)))
}

/// One image's patches: row `(c, ki, kj)` of `col` (rows `row_stride` apart) holds, for every
/// output position, the input value under kernel tap `(ki, kj)` of channel `c` (zero in the
/// padding).
fn im2col(g: &ConvGeometry, x: &[f32], col: &mut [f32], row_stride: usize) {
    let (oh, ow) = g.oh_ow();
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    let same_size = s == 1 && (oh, ow) == (g.h, g.w);
    let mut r = 0;
    for channel in x.chunks_exact(g.h * g.w) {
        for ki in 0..k {
            let (oy_lo, oy_hi) = valid_outputs(oh, g.h, s, ki, p);
            for kj in 0..k {
                let row = &mut col[r * row_stride..][..oh * ow];
                r += 1;
                let (ox_lo, ox_hi) = valid_outputs(ow, g.w, s, kj, p);
                if same_size {
                    let shift = (ki * g.w + kj) as isize - (p * g.w + p) as isize;
                    shifted_plane(row, channel, g.w, shift, (oy_lo, oy_hi), (ox_lo, ox_hi));
                    continue;
                }
                for (oy, dst) in row.chunks_exact_mut(ow).enumerate() {
                    if oy < oy_lo || oy >= oy_hi {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &channel[(oy * s + ki - p) * g.w..][..g.w];
                    dst[..ox_lo].fill(0.0);
                    dst[ox_hi..].fill(0.0);
                    if ox_lo == ox_hi {
                        // The tap reads only padding on this row (a kernel wider than the
                        // input): nothing to copy.
                    } else if s == 1 {
                        let start = ox_lo + kj - p;
                        dst[ox_lo..ox_hi].copy_from_slice(&src[start..start + ox_hi - ox_lo]);
                    } else {
                        for (ox, d) in dst.iter_mut().enumerate().take(ox_hi).skip(ox_lo) {
                            *d = src[ox * s + kj - p];
                        }
                    }
                }
            }
        }
    }
}

/// One im2col row of a stride-1 convolution whose output has its input's size (a "same"
/// convolution: all of GoogLeNet's 1x1, 3x3 and 5x5 ones): output position `d` reads input
/// position `d + shift` of the flattened plane, so the valid rows are one shifted block, copied
/// at once (instead of one short copy per output row), after which the columns that wrapped
/// around a row's edge (the padding) are zeroed.
fn shifted_plane(
    row: &mut [f32],
    plane: &[f32],
    w: usize,
    shift: isize,
    (oy_lo, oy_hi): (usize, usize),
    (ox_lo, ox_hi): (usize, usize),
) {
    let (start, end) = (oy_lo * w, oy_hi * w);
    row[..start].fill(0.0);
    row[end..].fill(0.0);
    let (block, from) = shifted_block(plane.len(), shift, start..end);
    row[start..block.start].fill(0.0);
    row[block.end..end].fill(0.0);
    row[block.clone()].copy_from_slice(&plane[from..from + block.len()]);
    zero_columns(&mut row[start..end], w, (ox_lo, ox_hi));
}

/// Within output positions `valid` (the valid rows of a tap), the block `d` whose input
/// position `d + shift` stays inside a plane of `plane_len` values (it leaves it only in the
/// padding columns of the first and last valid rows), and where that block starts in the plane.
#[inline(always)]
fn shifted_block(
    plane_len: usize,
    shift: isize,
    valid: std::ops::Range<usize>,
) -> (std::ops::Range<usize>, usize) {
    let lo = valid.start.max((-shift).max(0) as usize).min(valid.end);
    let hi = valid
        .end
        .min((plane_len as isize - shift).max(0) as usize)
        .max(lo);
    // An empty block starts anywhere: at 0, which every plane has.
    let from = if lo < hi {
        (lo as isize + shift) as usize
    } else {
        0
    };
    (lo..hi, from)
}

/// Zeroes the columns outside `ox_lo..ox_hi` of every row (`w` wide) of `rows`: a kernel tap's
/// padding, one or two columns. Column by column, down the rows: one short `memset` call per
/// row and column was 2% of a GoogLeNet training step.
#[inline(always)]
fn zero_columns(rows: &mut [f32], w: usize, (ox_lo, ox_hi): (usize, usize)) {
    for column in (0..ox_lo).chain(ox_hi..w) {
        for v in rows.iter_mut().skip(column).step_by(w) {
            *v = 0.0;
        }
    }
}

/// The transpose of `im2col`: adds every patch value back onto the input position it came
/// from. `col` is scratch: in "same" stride-1 convolutions the values of padding positions are
/// zeroed in it, so that each kernel tap is one shifted block added at once (the inverse of
/// `shifted_plane`) instead of one short addition per output row.
#[inline(always)]
fn col2im_add(g: &ConvGeometry, col: &mut [f32], row_stride: usize, x: &mut [f32]) {
    let (oh, ow) = g.oh_ow();
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    let same_size = s == 1 && (oh, ow) == (g.h, g.w);
    let mut r = 0;
    for channel in x.chunks_exact_mut(g.h * g.w) {
        for ki in 0..k {
            let (oy_lo, oy_hi) = valid_outputs(oh, g.h, s, ki, p);
            for kj in 0..k {
                let row = &mut col[r * row_stride..][..oh * ow];
                r += 1;
                let (ox_lo, ox_hi) = valid_outputs(ow, g.w, s, kj, p);
                if same_size {
                    let shift = (ki * g.w + kj) as isize - (p * g.w + p) as isize;
                    add_shifted_plane(channel, row, g.w, shift, (oy_lo, oy_hi), (ox_lo, ox_hi));
                    continue;
                }
                for oy in oy_lo..oy_hi {
                    let src = &row[oy * ow..][..ow];
                    let dst = &mut channel[(oy * s + ki - p) * g.w..][..g.w];
                    if ox_lo == ox_hi {
                        continue;
                    }
                    if s == 1 {
                        let start = ox_lo + kj - p;
                        let dst = &mut dst[start..start + ox_hi - ox_lo];
                        dst.iter_mut()
                            .zip(&src[ox_lo..ox_hi])
                            .for_each(|(d, &v)| *d += v);
                    } else {
                        for ox in ox_lo..ox_hi {
                            dst[ox * s + kj - p] += src[ox];
                        }
                    }
                }
            }
        }
    }
}

/// The transpose of `shifted_plane`: `plane[d + shift] += row[d]` for every output position
/// `d` of the valid rows whose tap is inside the input; the padding columns of `row` are
/// zeroed first, so that the valid rows are one block.
#[inline(always)]
fn add_shifted_plane(
    plane: &mut [f32],
    row: &mut [f32],
    w: usize,
    shift: isize,
    (oy_lo, oy_hi): (usize, usize),
    (ox_lo, ox_hi): (usize, usize),
) {
    let (start, end) = (oy_lo * w, oy_hi * w);
    zero_columns(&mut row[start..end], w, (ox_lo, ox_hi));
    // Outside the block, only padding columns, zero now.
    let (block, to) = shifted_block(plane.len(), shift, start..end);
    let dst = &mut plane[to..to + block.len()];
    for (d, &v) in dst.iter_mut().zip(&row[block]) {
        *d += v;
    }
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

    /// im2col by its definition, one value at a time.
    fn naive_im2col(g: &ConvGeometry, x: &[f32]) -> Vec<f32> {
        let (oh, ow) = g.output_size().unwrap();
        let mut col = Vec::new();
        for c in 0..g.c_in {
            for ki in 0..g.kernel {
                for kj in 0..g.kernel {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let iy = (oy * g.stride + ki) as isize - g.padding as isize;
                            let ix = (ox * g.stride + kj) as isize - g.padding as isize;
                            let inside =
                                iy >= 0 && ix >= 0 && iy < g.h as isize && ix < g.w as isize;
                            col.push(if inside {
                                x[(c * g.h + iy as usize) * g.w + ix as usize]
                            } else {
                                0.0
                            });
                        }
                    }
                }
            }
        }
        col
    }

    #[test]
    fn im2col_matches_its_definition() {
        // "Same" convolutions (the shifted-block path), a kernel wider than the input, strided
        // and unpadded ones.
        for (c_in, h, w, kernel, stride, padding) in [
            (2, 7, 6, 3, 1, 1),
            (1, 5, 5, 5, 1, 2),
            (2, 1, 1, 5, 1, 2),
            (1, 2, 3, 3, 1, 1),
            (3, 4, 4, 1, 1, 0),
            (2, 7, 5, 3, 2, 1),
            (1, 6, 6, 3, 1, 0),
        ] {
            let g = ConvGeometry {
                batch: 1,
                c_in,
                h,
                w,
                c_out: 1,
                kernel,
                stride,
                padding,
            };
            let x = values(g.in_item(), 6);
            let (oh, ow) = g.output_size().unwrap();
            // Garbage first: every value must be written.
            let mut col = vec![f32::NAN; g.patch_len() * oh * ow];
            im2col(&g, &x, &mut col, oh * ow);
            assert_eq!(col, naive_im2col(&g, &x), "{g:?}");
        }
    }

    #[test]
    fn col2im_is_the_transpose_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for any x and c: strided, and "same" stride-1
        // kernels (one shifted block per tap) on planes as small as GoogLeNet's last ones.
        for (h, w, kernel, stride, padding) in [
            (7, 5, 3, 2, 1),
            (6, 6, 3, 1, 1),
            (3, 3, 3, 1, 1),
            (7, 6, 5, 1, 2),
            (2, 2, 5, 1, 2),
            (5, 4, 1, 1, 0),
            (6, 5, 3, 1, 0),
        ] {
            let g = ConvGeometry {
                batch: 1,
                c_in: 2,
                h,
                w,
                c_out: 1,
                kernel,
                stride,
                padding,
            };
            let (oh, ow) = g.output_size().unwrap();
            let x = values(g.in_item(), 4);
            let c = values(g.patch_len() * oh * ow, 5);
            let mut col = vec![0.0; c.len()];
            im2col(&g, &x, &mut col, oh * ow);
            let mut back = vec![0.0; x.len()];
            col2im_add(&g, &mut c.clone(), oh * ow, &mut back);
            let lhs: f64 = col.iter().zip(&c).map(|(a, b)| (a * b) as f64).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| (a * b) as f64).sum();
            assert!((lhs - rhs).abs() < 1e-3, "{g:?}: {lhs} vs {rhs}");
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
                    let grads = backward(&g, x, &wt, &y, dy_batch, true, true);
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
