//! Inference max pooling of stride 2 whose output is half its input on both axes (a "halving"
//! pool: GoogLeNet's 3x3 pools of padding 1 between its stages, 48 -> 24 -> 12 -> 6 -> 3, and
//! the 2x2 pools of LeNet and VGG), on flat runs of planes.
//!
//! Why not `pool_kernels`' frames: there each plane is first copied into a frame of minus
//! infinity, and each window tap is a pass over the frame that updates the running maxima in
//! memory, which the compiler turns into masked stores (`vmaskmovps`), slow on AMD's cores.
//! Here a chunk of whole planes is pooled where it lies, every window's taps in one loop
//! iteration that keeps its maximum in a register. With the input width `2 * ow`, input
//! position `2 * i` is the start of row-pass output `i` for every row of every plane at once,
//! so the row pass is one loop over the chunk (`row_max[i] = max over kj of x[2 * i + kj -
//! padding]`); the few outputs at each row's ends, whose windows cross its edge (into the
//! padding, or into the next row in that loop), are computed again with their taps inside the
//! row only. The column pass then reduces, for each output row, the row-pass rows its window
//! covers. Both passes compare in the frames' order (window columns, then rows, each in
//! increasing order, strictly), so the outputs are the same values, bit for bit.
//!
//! GoogLeNet d2l's four such pools in one inference pass at batch 128 (`inception bench
//! --profile`, 2-core AMD EPYC with AVX2, two alternating runs each): 54.4 and 54.1 ms in the
//! frames, 21.5 and 17.7 ms here.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::buffers::{assume_written, unwritten};
use super::pool_kernels::{planes_per_task, PoolGeometry};
use super::simd::vectorized;

/// Input values pooled at a time (whole planes, at least one): 8 KiB, so that the row pass's
/// results (half of it) stay in L1 for the column pass.
const CHUNK_VALUES: usize = 1 << 11;

/// Whether `halving_max_pool` computes `g`: stride 2, even input sides, the output half of each,
/// a window of 2 or 3 (every halving pool of the zoo; others take `pool_kernels`' frames).
pub fn applies(g: &PoolGeometry) -> bool {
    g.stride == 2
        && matches!(g.kernel, 2 | 3)
        && g.h > 0
        && g.w > 0
        && g.h.is_multiple_of(2)
        && g.w.is_multiple_of(2)
        && g.output_size() == Some((g.h / 2, g.w / 2))
}

/// The maximum of every window, as `[n, c, h / 2, w / 2]`, for a pool that [`applies`].
pub fn halving_max_pool(g: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    assert!(
        applies(g),
        "a stride-2 pool of a 2 or 3 window that halves its input"
    );
    let plane = g.h * g.w;
    assert_eq!(x.len(), g.planes * plane, "input length");
    let mut out = unwritten(x.len() / 4);
    let per_task = planes_per_task(g);
    out.par_chunks_mut(plane / 4 * per_task)
        .zip(x.par_chunks(plane * per_task))
        .for_each(|(out, x)| {
            vectorized(
                #[inline(always)]
                || match g.kernel {
                    2 => pool_chunks::<2>(g, x, out),
                    _ => pool_chunks::<3>(g, x, out),
                },
            )
        });
    // SAFETY: the tasks cover every plane, and `pool_chunks` writes every value it is given.
    unsafe { assume_written(out) }
}

/// How many outputs at the start and at the end of a row of `out` outputs (a row-pass row, or
/// a plane's output rows) have windows that reach past the row's `2 * out` inputs: `kernel` taps
/// from `2 * o - padding`.
fn edges(kernel: usize, padding: usize, out: usize) -> (usize, usize) {
    let first = padding.div_ceil(2);
    let last = (kernel - 1).saturating_sub(padding) / 2;
    (first.min(out), last.min(out - first.min(out)))
}

/// Pools the whole planes `x` into `out` with a `K`-wide window, a chunk of planes at a time.
#[inline(always)]
fn pool_chunks<const K: usize>(g: &PoolGeometry, x: &[f32], out: &mut [MaybeUninit<f32>]) {
    let (h, w, p) = (g.h, g.w, g.padding);
    let (oh, ow) = (h / 2, w / 2);
    let planes = (CHUNK_VALUES / (h * w)).clamp(1, g.planes.max(1));
    let (first, last) = edges(K, p, ow);
    let (top, bottom) = edges(K, p, oh);
    let mut row_max = Vec::new();
    let chunks = x
        .chunks(planes * h * w)
        .zip(out.chunks_mut(planes * oh * ow));
    for (x, out) in chunks {
        // The row pass: first every output as if its row went on into the next one ...
        let n = x.len() / 2;
        row_max.clear();
        row_max.resize(n, f32::NEG_INFINITY);
        let inner = first..n - last;
        if !inner.is_empty() {
            let from = &x[2 * first - p..][..2 * inner.len() + K - 2];
            for (i, best) in row_max[inner].iter_mut().enumerate() {
                let window: &[f32; K] = from[2 * i..][..K].try_into().unwrap();
                *best = max_of(window.iter().copied());
            }
        }
        // ... then the outputs whose windows cross a row's edge, from the taps inside it.
        for (y, row) in row_max.chunks_exact_mut(ow).enumerate() {
            let input = &x[y * w..][..w];
            let ends = (0..first).chain(ow - last..ow);
            for o in ends {
                row[o] = max_of(window_taps(K, p, o, w).map(|t| input[t]));
            }
        }
        // The column pass: each output row from the row-pass rows its window covers.
        for (r, out_row) in out.chunks_exact_mut(ow).enumerate() {
            let (plane, oy) = (r / oh, r % oh);
            let rows = &row_max[plane * h * ow..][..h * ow];
            if (top..oh - bottom).contains(&oy) {
                let rows = &rows[(2 * oy - p) * ow..][..K * ow];
                for (o, v) in out_row.iter_mut().enumerate() {
                    v.write(max_of((0..K).map(|ki| rows[ki * ow + o])));
                }
            } else {
                for (o, v) in out_row.iter_mut().enumerate() {
                    v.write(max_of(window_taps(K, p, oy, h).map(|y| rows[y * ow + o])));
                }
            }
        }
    }
}

/// The taps of window `o` (from `2 * o - padding`, `kernel` wide) that lie in `0..side`.
#[inline(always)]
fn window_taps(
    kernel: usize,
    padding: usize,
    o: usize,
    side: usize,
) -> impl Iterator<Item = usize> {
    (0..kernel)
        .map(move |k| (2 * o + k) as isize - padding as isize)
        .filter(move |&t| (0..side as isize).contains(&t))
        .map(|t| t as usize)
}

/// The largest of `values` in their order, by strict comparisons from minus infinity: a NaN
/// never wins, and of equal values (+0 and -0) the first one does, as in `pool_kernels`.
#[inline(always)]
fn max_of(values: impl Iterator<Item = f32>) -> f32 {
    values.fold(f32::NEG_INFINITY, |best, v| if v > best { v } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::pool_kernels::max_pool;
    use crate::flex::test_values::{bits, in_pool, values, with_zero_ties};

    fn geometry(planes: usize, h: usize, w: usize, kernel: usize, padding: usize) -> PoolGeometry {
        PoolGeometry {
            planes,
            h,
            w,
            kernel,
            stride: 2,
            padding,
            ceil_mode: false,
        }
    }

    #[test]
    fn gives_the_frames_values_bit_for_bit() {
        // GoogLeNet's pools (48, 24, 12, 6 -> half, 3x3 of padding 1), VGG's and LeNet's 2x2,
        // planes larger than a chunk, a plane of 2x2, rectangles, ceil_mode where it halves
        // (GoogLeNet-BN's 112 -> 56), and ties of -0 and +0 (the first one wins in both).
        let mut cases = vec![
            geometry(70, 48, 48, 3, 1),
            geometry(300, 24, 24, 3, 1),
            geometry(500, 12, 12, 3, 1),
            geometry(900, 6, 6, 3, 1),
            geometry(40, 28, 28, 2, 0),
            geometry(3, 64, 60, 2, 0),
            geometry(7, 2, 2, 3, 1),
            geometry(9, 10, 4, 3, 1),
            geometry(6, 2, 8, 2, 0),
        ];
        cases.push(PoolGeometry {
            ceil_mode: true,
            ..geometry(4, 112, 112, 3, 0)
        });
        for g in cases {
            assert!(applies(&g), "{g:?}");
            let x = with_zero_ties(values(g.planes * g.h * g.w, 11));
            let expected = bits(&max_pool(&g, &x));
            for threads in [1, 3] {
                let got = in_pool(threads, || halving_max_pool(&g, &x));
                assert_eq!(bits(&got), expected, "{g:?} on {threads} threads");
            }
        }
    }

    #[test]
    fn applies_to_stride_2_pools_that_halve_only() {
        assert!(applies(&geometry(1, 6, 6, 3, 1)));
        // AlexNet's and NiN's 3x3 pools without padding: 55 -> 27, 54 -> 26.
        assert!(!applies(&geometry(1, 55, 55, 3, 0)));
        assert!(!applies(&geometry(1, 54, 54, 3, 0)));
        assert!(!applies(&PoolGeometry {
            stride: 1,
            ..geometry(1, 6, 6, 3, 1)
        }));
        assert!(!applies(&geometry(1, 7, 6, 3, 1)));
        // A window of 4 halves 8 with padding 1, but takes the frames.
        assert!(!applies(&geometry(1, 8, 8, 4, 1)));
    }

    #[test]
    fn a_window_of_nan_only_is_minus_infinity_and_nan_never_wins() {
        let g = geometry(2, 4, 4, 2, 0);
        let mut x = vec![f32::NAN; 32];
        x[16] = 1.0;
        let out = halving_max_pool(&g, &x);
        assert!(out[..4].iter().all(|&v| v == f32::NEG_INFINITY));
        assert_eq!(out[4], 1.0);
        assert_eq!(bits(&out), bits(&max_pool(&g, &x)));
    }
}
