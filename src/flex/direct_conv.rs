//! The forward pass of a convolution whose input has few channels (a network's first layer:
//! one grey channel, or three colour ones), computed directly instead of by im2col + GEMM.
//!
//! Why: with one input channel the GEMM's inner dimension is the kernel's area alone (9 for
//! VGG's 3x3, 121 for AlexNet's 11x11), too short for `gemm` to reach its speed, and im2col
//! writes the input out k² times over. Here each output channel's row of 16 pixels is 16 lanes
//! of a running sum, eight channels at once, over the kernel's taps: every input value loaded
//! feeds eight multiply-adds. A stride above 1 would make the 16 pixels read every `stride`-th
//! input value; each padded input row is first dealt into `stride` phases (phase `r` holds
//! columns `r, r + stride, ...`), so that a tap reads 16 consecutive values of one phase.
//!
//! Each output value is one sum in a fixed order (input channel, kernel row, kernel column),
//! whatever the number of threads. Only the forward pass: the backward's products have the
//! output's area as inner dimension and stay GEMMs (`conv_kernels`).
//!
//! Measured at batch 1 on a 2-core Intel Xeon with AVX-512 (`bench --profile`): AlexNet's
//! 11x11 stride-4 layer 0.6 ms against 1.1 ms by im2col + GEMM (PyTorch: 0.43), GoogLeNet's
//! 7x7 stride-2 stem 0.2 against 0.3 ms, VGG-11-small's 3x3 0.3 against 0.5 ms. The same loops
//! built for AVX2 (`pulp`'s V3, forced on that machine) took 0.8, 0.2 and 0.3 ms: still ahead
//! of the GEMM path's AVX-512 times, so AVX2 CPUs take this path too.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv_geometry::ConvGeometry;
use super::image_batch::{Batch, BatchMut};
use super::simd::{instruction_set, vectorized};

/// Output pixels of one row computed together: a vector of 16 floats.
const LANES: usize = 16;

/// Output channels computed together: eight running sums of 16 lanes, with the input vector and
/// a weight, fit AVX-512's registers.
const BLOCK: usize = 8;

/// The most input channels for which the direct convolution runs (a colour image's three).
pub const MAX_CHANNELS: usize = 3;

/// The fewest output pixels per map for which the direct convolution runs. LeNet's first
/// layer (24x24 maps, 20 channels: half its last tile of 16 pixels and half its last block of
/// channels empty) ran 0.87-0.93x direct at batch 1 (5 runs), and the GEMM path already puts
/// several small images side by side.
pub const MIN_OUTPUT_PIXELS: usize = 1024;

/// Whether `forward` handles this convolution: few input channels, a kernel larger than one
/// pixel, maps of at least `MIN_OUTPUT_PIXELS`, and a CPU with fused multiply-add (AVX2 or
/// AVX-512; without it `f32::mul_add` would be a library call per value).
pub fn applies(g: &ConvGeometry) -> bool {
    let pixels = g.output_size().map_or(0, |(oh, ow)| oh * ow);
    g.c_in <= MAX_CHANNELS
        && g.kernel > 1
        && pixels >= MIN_OUTPUT_PIXELS
        && instruction_set() != "baseline"
}

/// `relu(conv(x, weight) + bias)` (or without the ReLU), as `[n, c_out, oh, ow]`: what
/// `conv_kernels::forward` computes, for a geometry where [`applies`] holds: `forward_into` a
/// new output, for the unit tests (the operations write through `forward_into`).
#[cfg(test)]
pub fn forward(g: &ConvGeometry, x: Batch, weight: &[f32], bias: &[f32], relu: bool) -> Vec<f32> {
    let write = |out: BatchMut| forward_into(g, x, weight, bias, relu, out);
    // SAFETY: `forward_into` writes every value of every image it is handed.
    unsafe { super::image_batch::written(g.batch, g.out_item(), write) }
}

/// `forward`, written into `out`: `g.batch` images of `[c_out, oh, ow]`, where they lie (as
/// `conv_kernels::forward_into`). Writes every value of those images and nothing else.
pub fn forward_into(
    g: &ConvGeometry,
    x: Batch,
    weight: &[f32],
    bias: &[f32],
    relu: bool,
    out: BatchMut,
) {
    let (oh, ow) = g
        .output_size()
        .expect("convolution window larger than the padded input");
    let plane = oh * ow;
    assert_eq!(out.dims(), (g.batch, g.c_out * plane), "output images");
    let phases = Phases::new(g, ow);
    let weights = BlockedWeights::new(g, weight, bias);
    let blocks = g.c_out.div_ceil(BLOCK);
    // Enough tasks for every thread, at batch 1 too: each block's rows cut into bands.
    let threads = rayon::current_num_threads();
    let bands = (4 * threads).div_ceil(g.batch * blocks).clamp(1, oh.max(1));
    let band_rows = oh.div_ceil(bands);
    let bands = oh.div_ceil(band_rows);
    // tasks[(image, block, band)]: the band's rows of each of the block's output planes.
    let mut tasks: Vec<Task> = Vec::with_capacity(g.batch * blocks * bands);
    for (image, item) in out.into_images().into_iter().enumerate() {
        let mut planes: Vec<_> = item
            .chunks_mut(plane)
            .map(|p| p.chunks_mut(band_rows * ow))
            .collect();
        for block in 0..blocks {
            let channels = (g.c_out - block * BLOCK).min(BLOCK);
            for band in 0..bands {
                let rows = planes[block * BLOCK..][..channels]
                    .iter_mut()
                    .map(|p| p.next().expect("one piece per band"))
                    .collect();
                tasks.push(Task {
                    image,
                    block,
                    first_row: band * band_rows,
                    rows,
                });
            }
        }
    }
    let inputs: Vec<Vec<f32>> = (0..g.batch)
        .into_par_iter()
        .map(|i| phases.deal(x.item(i)))
        .collect();
    tasks.into_par_iter().for_each(|mut task| {
        vectorized(
            #[inline(always)]
            || {
                run_task(
                    g,
                    &phases,
                    &inputs[task.image],
                    &weights,
                    relu,
                    ow,
                    &mut task,
                )
            },
        )
    });
    // The tasks cover every (image, block of channels, band of rows), each channel of a block
    // and each row of a band, and `run_task` writes every column of each row (its tiles step
    // over `0..ow`, the last one cut to what is left).
}

/// One piece of work: rows `first_row..` of output channels `block * BLOCK..` of one image.
struct Task<'a> {
    image: usize,
    block: usize,
    first_row: usize,
    /// Per channel of the block, its rows of the band (`ow` values each).
    rows: Vec<&'a mut [MaybeUninit<f32>]>,
}

/// The padded input rows dealt into phases: `[c_in][padded row][phase][len]`.
struct Phases {
    c_in: usize,
    h: usize,
    w: usize,
    padding: usize,
    stride: usize,
    rows: usize,
    len: usize,
}

impl Phases {
    fn new(g: &ConvGeometry, ow: usize) -> Self {
        // Whole 16-pixel tiles, plus the farthest tap's reach in phase columns.
        let len = ow.div_ceil(LANES) * LANES + (g.kernel - 1) / g.stride + 1;
        Self {
            c_in: g.c_in,
            h: g.h,
            w: g.w,
            padding: g.padding,
            stride: g.stride,
            rows: g.h + 2 * g.padding,
            len,
        }
    }

    /// One image `[c_in, h, w]` dealt out, zeros in the padding and past the row's end.
    fn deal(&self, image: &[f32]) -> Vec<f32> {
        let (s, p) = (self.stride, self.padding);
        let mut dealt = vec![0.0; self.c_in * self.rows * s * self.len];
        for c in 0..self.c_in {
            for y in 0..self.h {
                let src = &image[(c * self.h + y) * self.w..][..self.w];
                let dst = &mut dealt[(c * self.rows + y + p) * s * self.len..][..s * self.len];
                for (x, &v) in src.iter().enumerate() {
                    // Padded column x + p is column (x + p) / s of phase (x + p) % s.
                    let col = x + p;
                    dst[(col % s) * self.len + col / s] = v;
                }
            }
        }
        dealt
    }

    /// Padded row `row` of input channel `c`: its `stride` phases, one after the other.
    #[inline(always)]
    fn row<'a>(&self, dealt: &'a [f32], c: usize, row: usize) -> &'a [f32] {
        &dealt[(c * self.rows + row) * self.stride * self.len..][..self.stride * self.len]
    }

    /// Where kernel column `kx` reads in a dealt row, for the tile starting at output column 0:
    /// its phase's start plus the phase columns it is shifted by. One entry per kernel column,
    /// so that the inner loop divides nothing.
    fn tap_offsets(&self, kernel: usize) -> Vec<usize> {
        let s = self.stride;
        (0..kernel).map(|kx| (kx % s) * self.len + kx / s).collect()
    }
}

/// The weights regrouped per block of `BLOCK` output channels: `[block][tap][BLOCK]` (zeros
/// for the missing channels of a last, partial block), and the bias likewise.
struct BlockedWeights {
    taps: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl BlockedWeights {
    fn new(g: &ConvGeometry, weight: &[f32], bias: &[f32]) -> Self {
        let taps = g.c_in * g.kernel * g.kernel;
        let blocks = g.c_out.div_ceil(BLOCK);
        let mut blocked = vec![0.0; blocks * taps * BLOCK];
        let mut blocked_bias = vec![0.0; blocks * BLOCK];
        for co in 0..g.c_out {
            let (block, lane) = (co / BLOCK, co % BLOCK);
            for t in 0..taps {
                blocked[(block * taps + t) * BLOCK + lane] = weight[co * taps + t];
            }
            blocked_bias[co] = bias[co];
        }
        Self {
            taps,
            weight: blocked,
            bias: blocked_bias,
        }
    }
}

#[inline(always)]
fn run_task(
    g: &ConvGeometry,
    phases: &Phases,
    dealt: &[f32],
    weights: &BlockedWeights,
    relu: bool,
    ow: usize,
    task: &mut Task,
) {
    let k = g.kernel;
    let w_block = &weights.weight[task.block * weights.taps * BLOCK..][..weights.taps * BLOCK];
    let bias = &weights.bias[task.block * BLOCK..][..BLOCK];
    let offsets = phases.tap_offsets(k);
    let band_rows = task.rows[0].len() / ow;
    let rows = &mut task.rows;
    for r in 0..band_rows {
        let oy = task.first_row + r;
        for x0 in (0..ow).step_by(LANES) {
            // Eight running sums as eight variables, not an array indexed in a loop: in an
            // array they were stored to the stack at every tap (11 GFLOP/s on AlexNet's first
            // layer, against the GEMM's 63); as variables each stays in a register.
            let [mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6, mut a7] =
                std::array::from_fn(|c| [bias[c]; LANES]);
            let mut taps = w_block.chunks_exact(BLOCK);
            for c in 0..g.c_in {
                for ky in 0..k {
                    let row = &phases.row(dealt, c, oy * g.stride + ky)[x0..];
                    for &offset in &offsets {
                        let v: &[f32; LANES] = row[offset..][..LANES].try_into().expect("a tile");
                        let wt = taps.next().expect("one weight per tap and channel");
                        a0 = multiply_add(a0, wt[0], v);
                        a1 = multiply_add(a1, wt[1], v);
                        a2 = multiply_add(a2, wt[2], v);
                        a3 = multiply_add(a3, wt[3], v);
                        a4 = multiply_add(a4, wt[4], v);
                        a5 = multiply_add(a5, wt[5], v);
                        a6 = multiply_add(a6, wt[6], v);
                        a7 = multiply_add(a7, wt[7], v);
                    }
                }
            }
            let acc = [a0, a1, a2, a3, a4, a5, a6, a7];
            let n = (ow - x0).min(LANES);
            for (out_row, lanes) in rows.iter_mut().zip(&acc) {
                let dst = &mut out_row[r * ow + x0..][..n];
                if relu {
                    for (d, &a) in dst.iter_mut().zip(lanes) {
                        d.write(a.max(0.0));
                    }
                } else {
                    dst.write_copy_of_slice(&lanes[..n]);
                }
            }
        }
    }
}

/// `acc + w * v`, lane by lane, fused.
#[inline(always)]
fn multiply_add(acc: [f32; LANES], w: f32, v: &[f32; LANES]) -> [f32; LANES] {
    std::array::from_fn(|l| w.mul_add(v[l], acc[l]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::test_values::{bits, in_pool, naive_forward, values};

    #[test]
    fn matches_the_definition_for_strides_paddings_and_partial_blocks() {
        // (batch, c_in, side, c_out, kernel, stride, padding): AlexNet's and NiN's 11x11
        // stride 4, VGG's 3x3, GoogLeNet's 7x7 stride 2 on three channels, LeNet's 5x5 with
        // padding 2; output channels not a multiple of 8 and rows not a multiple of 16.
        for (batch, c_in, side, c_out, kernel, stride, padding) in [
            (1, 1, 37, 12, 11, 4, 1),
            (2, 1, 20, 8, 3, 1, 1),
            (1, 3, 23, 5, 7, 2, 3),
            (3, 1, 28, 6, 5, 1, 2),
            (1, 2, 9, 17, 3, 3, 0),
        ] {
            let g = ConvGeometry {
                batch,
                c_in,
                h: side,
                w: side,
                c_out,
                kernel,
                stride,
                padding,
            };
            let x = values(batch * c_in * side * side, 1);
            let w = values(c_out * c_in * kernel * kernel, 2);
            let b = values(c_out, 3);
            for relu in [false, true] {
                let mut expected = naive_forward(&g, &x, &w, &b);
                if relu {
                    expected.iter_mut().for_each(|v| *v = v.max(0.0));
                }
                for threads in [1, 3] {
                    let ours = in_pool(threads, || {
                        forward(&g, Batch::contiguous(&x, c_in * side * side), &w, &b, relu)
                    });
                    assert_eq!(ours.len(), expected.len());
                    let scale = expected.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
                    for (i, (a, e)) in ours.iter().zip(&expected).enumerate() {
                        assert!(
                            (a - e).abs() <= 1e-5 * scale,
                            "{g:?} relu {relu} threads {threads}: value {i}: {a} vs {e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn runs_on_few_input_channels_large_maps_and_kernels_above_one_pixel() {
        let g = |c_in, side, kernel| ConvGeometry {
            batch: 1,
            c_in,
            h: side,
            w: side,
            c_out: 64,
            kernel,
            stride: 1,
            padding: kernel / 2,
        };
        let fma = instruction_set() != "baseline";
        assert_eq!(applies(&g(1, 224, 3)), fma, "VGG's first layer");
        assert_eq!(applies(&g(3, 32, 7)), fma, "32x32 maps, three channels");
        assert!(!applies(&g(4, 224, 3)), "four input channels");
        assert!(!applies(&g(1, 224, 1)), "a 1x1 kernel");
        assert!(!applies(&g(1, 28, 5)), "LeNet's 28x28 maps");
    }

    #[test]
    fn the_result_does_not_depend_on_the_number_of_threads() {
        let g = ConvGeometry {
            batch: 1,
            c_in: 1,
            h: 50,
            w: 50,
            c_out: 24,
            kernel: 5,
            stride: 2,
            padding: 2,
        };
        let (x, w, b) = (values(2500, 4), values(24 * 25, 5), values(24, 6));
        let run = |threads| {
            in_pool(threads, || {
                forward(&g, Batch::contiguous(&x, 2500), &w, &b, true)
            })
        };
        let one = bits(&run(1));
        for threads in [2, 3, 5] {
            assert_eq!(one, bits(&run(threads)), "{threads} threads");
        }
    }
}
