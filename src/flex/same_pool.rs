//! Inference max pooling of stride 1 whose output has its input's size (a "same" pool: the 3x3
//! pool of padding 1 on every Inception block's fourth path), on flat runs of planes.
//!
//! Why not `pool_kernels`' frames: on GoogLeNet's 6x6 and 3x3 planes a frame of minus infinity
//! (8x8, 5x5) is about twice the plane, and copying each row into it costs more than the
//! comparisons. Here a chunk of whole planes is pooled where it lies, as one flat array: the
//! row pass compares each value with its neighbours `kj - padding` positions away, the column
//! pass with those `(ki - padding) * w` away, each one loop over the chunk, and a mask per
//! offset turns what crosses a plane's edge (the padding) into minus infinity. The passes run
//! in the same order as the frames' (row taps, then column taps, each in increasing order, with
//! a strict comparison), so the outputs are the same values, bit for bit.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::buffers::{assume_written, fill, unwritten};
use super::pool_kernels::{planes_per_task, PoolGeometry};
use super::simd::vectorized;

/// Values pooled at a time (whole planes, at least one): 4 KiB, so that the chunk, the row
/// pass's results and the masks stay in L1 between the passes.
const CHUNK_VALUES: usize = 1 << 10;

const NEG_INFINITY_BITS: u32 = 0xff80_0000;

/// Whether `same_max_pool` computes `g`: stride 1 and the output the input's size.
pub fn applies(g: &PoolGeometry) -> bool {
    g.stride == 1 && g.output_size() == Some((g.h, g.w))
}

/// The maximum of every window, as `[n, c, h, w]`, for a pool that [`applies`].
pub fn same_max_pool(g: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    assert!(
        applies(g),
        "a stride-1 pool whose output has its input's size"
    );
    let plane = g.h * g.w;
    assert_eq!(x.len(), g.planes * plane, "input length");
    let mut out = unwritten(x.len());
    let masks = Masks::new(g);
    let per_task = planes_per_task(g);
    out.par_chunks_mut(plane * per_task)
        .zip(x.par_chunks(plane * per_task))
        .for_each(|(out, x)| {
            vectorized(
                #[inline(always)]
                || pool_chunks(g, &masks, x, out),
            )
        });
    // SAFETY: the tasks cover every plane, and `pool_chunks` writes every value it is given.
    unsafe { assume_written(out) }
}

/// For each window offset, which positions of a chunk's planes it reads inside their plane:
/// all ones there, zero where it crosses a plane's edge.
struct Masks {
    /// Planes per chunk.
    planes: usize,
    /// `kernel x (planes * h * w)`: row offset `kj - padding`, for `kj` in order.
    rows: Vec<u32>,
    /// The same for column offsets `(ki - padding) * w`.
    columns: Vec<u32>,
}

impl Masks {
    fn new(g: &PoolGeometry) -> Self {
        let (h, w, k, p) = (g.h, g.w, g.kernel, g.padding);
        let planes = (CHUNK_VALUES / (h * w)).clamp(1, g.planes.max(1));
        let len = planes * h * w;
        let inside = |at: usize, tap: usize, side: usize| (p..side + p).contains(&(at + tap));
        let mask = |keep: bool| if keep { u32::MAX } else { 0 };
        let mut rows = Vec::with_capacity(k * len);
        let mut columns = Vec::with_capacity(k * len);
        for tap in 0..k {
            rows.extend((0..len).map(|i| mask(inside(i % w, tap, w))));
            columns.extend((0..len).map(|i| mask(inside(i / w % h, tap, h))));
        }
        Self {
            planes,
            rows,
            columns,
        }
    }
}

/// Pools the whole planes `x` into `out`, a chunk of planes at a time.
#[inline(always)]
fn pool_chunks(g: &PoolGeometry, masks: &Masks, x: &[f32], out: &mut [MaybeUninit<f32>]) {
    let plane = g.h * g.w;
    let len = masks.planes * plane;
    let mut row_max = Vec::new();
    for (x, out) in x.chunks(len).zip(out.chunks_mut(len)) {
        let n = x.len();
        row_max.clear();
        row_max.resize(n, f32::NEG_INFINITY);
        for kj in 0..g.kernel {
            let offset = kj as isize - g.padding as isize;
            let mask = &masks.rows[kj * len..][..n];
            keep_masked_max(&mut row_max, x, mask, offset);
        }
        let out = fill(out, f32::NEG_INFINITY);
        for ki in 0..g.kernel {
            let offset = (ki as isize - g.padding as isize) * g.w as isize;
            let mask = &masks.columns[ki * len..][..n];
            keep_masked_max(out, &row_max, mask, offset);
        }
    }
}

/// `best[i] = max(best[i], values[i + offset])` where `mask[i]` is all ones (a value of minus
/// infinity where it is zero), for every `i` whose neighbour lies in `values`: one past the
/// chunk is past its planes' edge, where the mask is zero. A strict comparison: a NaN never
/// replaces a value, as in `pool_kernels`.
#[inline(always)]
fn keep_masked_max(best: &mut [f32], values: &[f32], mask: &[u32], offset: isize) {
    let n = best.len() as isize;
    let (lo, hi) = ((-offset).clamp(0, n), (n - offset).clamp(0, n));
    if lo >= hi {
        return;
    }
    let (lo, hi) = (lo as usize, hi as usize);
    let values = &values[(lo as isize + offset) as usize..][..hi - lo];
    for ((b, &v), &m) in best[lo..hi].iter_mut().zip(values).zip(&mask[lo..hi]) {
        let v = f32::from_bits((v.to_bits() & m) | (NEG_INFINITY_BITS & !m));
        *b = if v > *b { v } else { *b };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::pool_kernels::max_pool;
    use crate::flex::test_values::{bits, in_pool, values, with_zero_ties};

    fn geometry(planes: usize, h: usize, w: usize, kernel: usize) -> PoolGeometry {
        PoolGeometry {
            planes,
            h,
            w,
            kernel,
            stride: 1,
            padding: kernel / 2,
            ceil_mode: false,
        }
    }

    #[test]
    fn gives_the_frames_values_bit_for_bit() {
        // GoogLeNet's planes (12x12, 6x6, 3x3), planes larger than a chunk, a 5x5 window,
        // a window wider than the plane, and ties of -0 and +0 (the first one wins in both).
        for (planes, h, w, kernel) in [
            (300, 12, 12, 3),
            (700, 6, 6, 3),
            (900, 3, 3, 3),
            (3, 40, 37, 3),
            (20, 7, 5, 5),
            (9, 2, 3, 5),
            (5, 1, 1, 3),
        ] {
            let g = geometry(planes, h, w, kernel);
            let x = with_zero_ties(values(planes * h * w, 8));
            let expected = bits(&max_pool(&g, &x));
            for threads in [1, 3] {
                let got = in_pool(threads, || same_max_pool(&g, &x));
                assert_eq!(bits(&got), expected, "{g:?} on {threads} threads");
            }
        }
    }

    #[test]
    fn applies_to_stride_1_pools_of_the_input_size_only() {
        assert!(applies(&geometry(1, 6, 6, 3)));
        assert!(!applies(&PoolGeometry {
            padding: 0,
            ..geometry(1, 6, 6, 3)
        }));
        assert!(!applies(&PoolGeometry {
            stride: 2,
            ..geometry(1, 6, 6, 3)
        }));
    }

    #[test]
    fn a_window_of_nan_only_is_minus_infinity_and_nan_never_wins() {
        let g = geometry(2, 3, 3, 3);
        let mut x = vec![f32::NAN; 18];
        x[9 + 4] = 1.0;
        let out = same_max_pool(&g, &x);
        let expected = max_pool(&g, &x);
        assert!(out[..9].iter().all(|&v| v == f32::NEG_INFINITY));
        assert!(out[9..].iter().all(|&v| v == 1.0));
        assert_eq!(bits(&out), bits(&expected));
    }
}
