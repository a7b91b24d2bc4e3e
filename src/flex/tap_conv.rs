//! A stride-1 convolution's forward pass as one GEMM per kernel tap, reading the padded input
//! in place instead of through an im2col copy.
//!
//! Why: im2col writes k² copies of the input (29 MB for VGG-11's 64 -> 128 layer at 112x112)
//! that the GEMM then reads, and packs once more when the output has more than 96 channels.
//! With stride 1 the copy is not needed: on a grid as wide as the padded input
//! (`w + 2·padding`), output position `q` (row-major on that grid) reads, under kernel tap
//! `(ky, kx)`, padded input position `q + ky·W + kx` (as in `weight_grad`). So the output on
//! the grid is a sum of k² products `weight_tap[c_out x c_in] · x_tap[c_in x positions]`,
//! where `x_tap` is the padded input seen from offset `ky·W + kx`, its rows one padded plane
//! apart: a strided view that `gemm` reads in place. The grid is computed in chunks of rows
//! small enough to stay in a core's L2 while the k² products add into them; then its valid
//! columns (the first `ow` of each row of `W`) are copied out with the bias and the ReLU.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::buffers::unwritten;
use super::conv_geometry::ConvGeometry;
use super::matmul::{matmul, matmul_write, Mat};
use super::simd::vectorized;

/// Output-grid values per chunk, about: 64 Ki floats (256 KiB), which stay in a core's L2
/// together with the input rows the products read.
const CHUNK_VALUES: usize = 1 << 16;

/// Whether `forward_image` can compute this convolution at all.
pub fn supports(g: &ConvGeometry) -> bool {
    g.stride == 1 && g.kernel > 1 && g.output_size().is_some()
}

/// The most output channels for which the taps run. Past 96, `gemm` packs its pixel operand
/// (the shifted input) for every tap, k² copies again, in cache-sized blocks. At batch 1 on a
/// 2-core Intel Xeon with AVX-512 (`bench --profile`, 2 runs each way): VGG-11's 64 -> 128
/// layer at 112x112 8.0-8.3 ms against 11.5-12.6 by im2col + GEMM; its 256 and 512 channel
/// layers slower by taps (56x56 256 -> 256 17.4-20.2 against 14.5-16.1 ms; 28x28 512 -> 512
/// 17.1-17.5 against 12.7-13.8), where the GEMM over im2col runs at 250-300 GFLOP/s.
const MAX_CHANNELS_OUT: usize = 128;

/// The fewest input channels: with one (LeNet's first layer, 24x24) the taps' products have an
/// inner dimension of 1, and LeNet's inference at batch 1 ran 0.6-0.7x that way.
const MIN_CHANNELS_IN: usize = 4;

/// The fewest output pixels per map. GoogLeNet d2l at batch 1 with its 12x12, 6x6 and 3x3
/// Inception branches by taps: inference 0.95-0.96x (2 runs); with this limit, even.
const MIN_PIXELS: usize = 400;

/// Whether `forward_image` computes this convolution's forward pass instead of im2col + GEMM:
/// only with `parallel` (a batch smaller than the thread count: one image's chunks across the
/// threads), and within the limits above. With one run of images per thread the single-threaded
/// GEMMs over a group's im2col were as fast or faster: VGG-11-small at batch 32, 56x56 32 -> 32
/// 5.7-8.3 ms by taps against 4.5-4.9, inference 0.93-1.00x; GoogLeNet d2l at batch 32 0.94x.
pub fn applies(g: &ConvGeometry, parallel: bool) -> bool {
    let pixels = g.output_size().map_or(0, |(oh, ow)| oh * ow);
    parallel
        && supports(g)
        && g.c_out <= MAX_CHANNELS_OUT
        && g.c_in >= MIN_CHANNELS_IN
        && pixels >= MIN_PIXELS
}

/// The input gradient of a stride-1 convolution as the convolution that computes it: the
/// output gradient (`[c_out, oh, ow]`) convolved with the weights flipped and transposed
/// (`[c_in, c_out, k, k]`), padded by `k - 1 - padding`. Its geometry, when there is one
/// (a padding of at most `k - 1`).
pub fn input_gradient_geometry(g: &ConvGeometry) -> Option<ConvGeometry> {
    let (oh, ow) = g.output_size()?;
    (g.stride == 1 && g.padding < g.kernel).then_some(ConvGeometry {
        batch: g.batch,
        c_in: g.c_out,
        h: oh,
        w: ow,
        c_out: g.c_in,
        kernel: g.kernel,
        stride: 1,
        padding: g.kernel - 1 - g.padding,
    })
}

/// The most output channels of a convolution whose input gradient runs by taps (the input
/// channels of the gradient's convolution). At batch 1 on a 2-core Intel Xeon with AVX-512
/// (`bench --profile`, 2 runs each way), the paper's GoogLeNet's backward took 59.5-59.8 ms
/// with every input gradient that `applies` by taps (among them its 56x56 64 -> 192 layer's),
/// 54.6-57.9 ms with this limit and 55.4-58.3 ms with none by taps; VGG-11's even (213.6-220.9
/// ms with its 64 -> 128 layer's by taps or not).
const MAX_CHANNELS_OUT_FOR_INPUT_GRADIENT: usize = 128;

/// `input_gradient_geometry`, when its convolution `applies` (with `parallel`) within the
/// limit above: the input gradient of `g` is then `forward_image` of the output gradient with
/// `flipped_weights`.
pub fn input_gradient_by_taps(g: &ConvGeometry, parallel: bool) -> Option<ConvGeometry> {
    input_gradient_geometry(g)
        .filter(|t| t.c_in <= MAX_CHANNELS_OUT_FOR_INPUT_GRADIENT && applies(t, parallel))
}

/// The weights of `input_gradient_geometry`'s convolution: `[c_in, c_out, k, k]`, each kernel
/// turned by 180 degrees.
pub fn flipped_weights(g: &ConvGeometry, weight: &[f32]) -> Vec<f32> {
    let (taps, patch) = (g.kernel * g.kernel, g.patch_len());
    let mut flipped = vec![0.0; weight.len()];
    for (ci, dst) in flipped.chunks_exact_mut(g.c_out * taps).enumerate() {
        for (co, kernel) in dst.chunks_exact_mut(taps).enumerate() {
            let src = &weight[co * patch + ci * taps..][..taps];
            kernel
                .iter_mut()
                .zip(src.iter().rev())
                .for_each(|(d, &s)| *d = s);
        }
    }
    flipped
}

/// `relu(conv(x, weight) + bias)` (or without the ReLU) of one image `x` (`[c_in, h, w]`) into
/// `out` (`[c_out, oh, ow]`, every value written). With `parallel`, the chunks of the output
/// run on rayon's threads (a batch smaller than the thread count); else on the calling thread.
pub fn forward_image(
    g: &ConvGeometry,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    relu: bool,
    out: &mut [MaybeUninit<f32>],
    parallel: bool,
) {
    assert!(supports(g), "tap_conv::forward_image on {g:?}");
    let (oh, ow) = g.oh_ow();
    let plane = oh * ow;
    assert_eq!(x.len(), g.in_item(), "input length");
    assert_eq!(weight.len(), g.c_out * g.patch_len(), "weight length");
    assert_eq!(bias.len(), g.c_out, "bias length");
    assert_eq!(out.len(), g.c_out * plane, "output length");
    let (k, patch, c_out) = (g.kernel, g.patch_len(), g.c_out);
    let width = g.padded_width();
    let x_plane = padded_plane(g);
    let xp = pad(g, x, parallel);

    // Chunks of `rows` output rows: every output channel's rows, `[c_out][rows · width]`.
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    let rows = (CHUNK_VALUES / (c_out * width))
        .max(1)
        .min(oh.div_ceil(threads));
    let mut grid = unwritten(c_out * oh * width);
    let chunk = |(i, dst): (usize, &mut [MaybeUninit<f32>])| {
        let (first_row, len) = (i * rows, dst.len() / c_out);
        for tap in 0..k * k {
            // weight_tap[co][ci] = weight[co][ci][tap]; x_tap[ci][q] = xp[ci][start + q].
            let lhs = Mat::strided(&weight[tap..], patch, k * k);
            let start = first_row * width + (tap / k) * width + tap % k;
            let rhs = Mat::row_major(&xp[start..], x_plane);
            let shape = (c_out, len, g.c_in);
            if tap == 0 {
                matmul_write(dst, shape, lhs, rhs, gemm::Parallelism::None);
            } else {
                // SAFETY: the first tap's product wrote all c_out x len values of `dst`.
                let dst = unsafe { dst.assume_init_mut() };
                matmul(dst, shape, lhs, rhs, true, gemm::Parallelism::None);
            }
        }
    };
    let chunks = grid.chunks_mut(c_out * rows * width).enumerate();
    if parallel {
        chunks.collect::<Vec<_>>().into_par_iter().for_each(chunk);
    } else {
        chunks.for_each(chunk);
    }
    // SAFETY: the chunks cover the grid and each one's first product wrote all of it.
    let grid = unsafe { grid.assume_init_ref() };

    // The valid columns of each channel's rows, with its bias and ReLU.
    let copy_out = |(co, dst): (usize, &mut [MaybeUninit<f32>])| {
        vectorized(
            #[inline(always)]
            || {
                let b = bias[co];
                for (oy, dst_row) in dst.chunks_exact_mut(ow).enumerate() {
                    let (chunk, row) = (oy / rows, oy % rows);
                    let chunk_rows = rows.min(oh - chunk * rows);
                    let at = chunk * rows * c_out * width + (co * chunk_rows + row) * width;
                    for (d, &s) in dst_row.iter_mut().zip(&grid[at..at + ow]) {
                        let v = s + b;
                        d.write(if relu { v.max(0.0) } else { v });
                    }
                }
            },
        )
    };
    let channels = out.chunks_exact_mut(plane).enumerate();
    if parallel {
        channels
            .collect::<Vec<_>>()
            .into_par_iter()
            .for_each(copy_out);
    } else {
        channels.for_each(copy_out);
    }
}

/// Values per channel of the padded input: its `h + 2·padding` rows of `w + 2·padding`, and
/// room for the last tap's run past the last row (`k - 1` values).
fn padded_plane(g: &ConvGeometry) -> usize {
    (g.h + 2 * g.padding) * g.padded_width() + g.kernel - 1
}

/// One image's input, zero-padded, as `[c_in][padded_plane]`.
fn pad(g: &ConvGeometry, x: &[f32], parallel: bool) -> Vec<f32> {
    let x_plane = padded_plane(g);
    let mut xp = vec![0.0; g.c_in * x_plane];
    let fill = |(dst, src): (&mut [f32], &[f32])| g.copy_padded(src, dst);
    let planes = xp.chunks_exact_mut(x_plane).zip(x.chunks_exact(g.h * g.w));
    if parallel && g.c_in > 1 {
        planes.collect::<Vec<_>>().into_par_iter().for_each(fill);
    } else {
        planes.for_each(fill);
    }
    xp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::buffers::{assume_written, unwritten};
    use crate::flex::test_values::{assert_close, in_pool, naive_forward, values};

    fn geometry(
        c_in: usize,
        h: usize,
        w: usize,
        c_out: usize,
        kernel: usize,
        padding: usize,
    ) -> ConvGeometry {
        ConvGeometry {
            batch: 1,
            c_in,
            h,
            w,
            c_out,
            kernel,
            stride: 1,
            padding,
        }
    }

    fn run(
        g: &ConvGeometry,
        x: &[f32],
        w: &[f32],
        b: &[f32],
        relu: bool,
        parallel: bool,
    ) -> Vec<f32> {
        let mut out = unwritten(g.out_item());
        forward_image(g, x, w, b, relu, &mut out, parallel);
        // SAFETY: forward_image writes every value (NaN-filled under test otherwise).
        unsafe { assume_written(out) }
    }

    #[test]
    fn forward_matches_the_definition() {
        // "same" 3x3 and 5x5, unpadded, rectangular maps, one channel in, chunks of one row
        // (many output channels on a wide map) and of the whole map.
        for g in [
            geometry(3, 7, 6, 4, 3, 1),
            geometry(2, 9, 9, 5, 5, 2),
            geometry(4, 8, 5, 3, 3, 0),
            geometry(1, 12, 12, 8, 3, 1),
            geometry(5, 4, 300, 300, 3, 1),
            geometry(16, 20, 20, 32, 3, 1),
            geometry(3, 2, 3, 2, 3, 1),
        ] {
            let x = values(g.in_item(), 1);
            let w = values(g.c_out * g.patch_len(), 2);
            let b = values(g.c_out, 3);
            let expected = naive_forward(&g, &x, &w, &b);
            let relu_expected: Vec<f32> = expected.iter().map(|v| v.max(0.0)).collect();
            for threads in [1, 3] {
                for parallel in [false, true] {
                    let got = in_pool(threads, || run(&g, &x, &w, &b, false, parallel));
                    assert_close(&format!("{g:?}"), &expected, &got);
                    let got = in_pool(threads, || run(&g, &x, &w, &b, true, parallel));
                    assert_close(&format!("{g:?} with ReLU"), &relu_expected, &got);
                }
            }
        }
    }

    /// The input gradient by its definition: each output gradient value sent back through
    /// every tap that read an input value.
    fn naive_input_gradient(g: &ConvGeometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
        let (oh, ow) = g.output_size().unwrap();
        let k = g.kernel;
        let mut gx = vec![0.0f64; g.in_item()];
        for co in 0..g.c_out {
            for ci in 0..g.c_in {
                for (oy, ox, ky, kx) in positions_and_taps(oh, ow, k) {
                    let (y, x) = (
                        (oy + ky) as isize - g.padding as isize,
                        (ox + kx) as isize - g.padding as isize,
                    );
                    if y < 0 || x < 0 || y >= g.h as isize || x >= g.w as isize {
                        continue;
                    }
                    let wv = w[((co * g.c_in + ci) * k + ky) * k + kx] as f64;
                    gx[(ci * g.h + y as usize) * g.w + x as usize] +=
                        wv * dy[(co * oh + oy) * ow + ox] as f64;
                }
            }
        }
        gx.into_iter().map(|v| v as f32).collect()
    }

    /// Every (output row, output column, kernel row, kernel column).
    fn positions_and_taps(
        oh: usize,
        ow: usize,
        k: usize,
    ) -> impl Iterator<Item = (usize, usize, usize, usize)> {
        (0..oh * ow * k * k).map(move |i| (i / (ow * k * k), i / (k * k) % ow, i / k % k, i % k))
    }

    #[test]
    fn the_input_gradient_is_the_convolution_with_flipped_weights() {
        // "same" 3x3 and 5x5, an unpadded 3x3 (the gradient convolution pads by 2), a padding
        // of 1 on a 5x5 kernel.
        for g in [
            geometry(3, 7, 6, 4, 3, 1),
            geometry(2, 9, 9, 5, 5, 2),
            geometry(4, 8, 5, 3, 3, 0),
            geometry(6, 10, 11, 5, 5, 1),
        ] {
            let t = input_gradient_geometry(&g).unwrap();
            assert_eq!(
                (t.c_in, t.c_out, t.output_size()),
                (g.c_out, g.c_in, Some((g.h, g.w)))
            );
            let dy = values(g.out_item(), 7);
            let w = values(g.c_out * g.patch_len(), 8);
            let expected = naive_input_gradient(&g, &dy, &w);
            let got = run(
                &t,
                &dy,
                &flipped_weights(&g, &w),
                &vec![0.0; g.c_in],
                false,
                true,
            );
            assert_close(&format!("{g:?}"), &expected, &got);
        }
        // A padding the gradient convolution cannot have.
        assert!(input_gradient_geometry(&geometry(1, 9, 9, 1, 3, 3)).is_none());
    }

    #[test]
    fn the_same_bits_on_any_thread_count() {
        let g = geometry(8, 30, 30, 16, 3, 1);
        let (x, w, b) = (
            values(g.in_item(), 4),
            values(g.c_out * g.patch_len(), 5),
            values(16, 6),
        );
        let one = in_pool(1, || run(&g, &x, &w, &b, true, true));
        let three = in_pool(3, || run(&g, &x, &w, &b, true, true));
        let serial = in_pool(3, || run(&g, &x, &w, &b, true, false));
        assert_eq!(one, three);
        assert_eq!(one, serial);
    }
}
