//! `dst = a · b` for a left operand with few rows (a dense layer's batch) and a wide right
//! operand read where it lies, row by row, never copied: a dense layer's weights, `[k, n]`.
//!
//! Why not `gemm`: it packs its operands into blocks before multiplying. With 32 rows, each
//! packed weight is used for 32 multiply-adds only, so the copy costs about as much as the
//! product: AlexNet's 6400 x 4096 layer at batch 32 took 20.7 ms (80 GFLOP/s, `bench
//! --profile`) on a 2-core Intel Xeon with AVX-512, where PyTorch's `linear` took 8.8 ms. Here
//! `DEPTH` whole rows of `b` (the caller's columns of them) are read in order, as few memory
//! streams, and used by every tile of `dst` while they are in L2, the sums of a tile's `ROWS`
//! x `COLS` outputs held in registers: 9.3 ms. Each output is one sum over the inner dimension
//! in order, whatever the columns or rows given to each thread.

use std::mem::MaybeUninit;

/// Outputs per row of a tile: 4 AVX-512 vectors.
pub const COLS: usize = 64;
/// Rows of a tile: 4 x 4 vectors of sums, 16 of the 32 AVX-512 registers.
const ROWS: usize = 4;
/// Rows of `b` per pass over `dst`: AlexNet's 32 rows of 4096 weights are 512 KiB, which stay
/// in L2 while every tile uses them.
const DEPTH: usize = 32;

/// A left operand: element `(i, p)` at `data[i * row_stride + p * col_stride]`.
#[derive(Clone, Copy)]
pub struct Lhs<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

/// `dst[i][j] = Σ_p a(i, p) · b[p * ldb + j]` for `i < m`, `p < k`, `j < width`; `dst` holds
/// `m` rows of `width` values, every one of which it writes (it takes them unwritten: zeroing
/// AlexNet's 6400 x 4096 weight gradient first took longer than computing it). With AVX-512
/// the tiles are written with its intrinsics (the compiler kept auto-vectorized tiles' sums in
/// memory, not in registers: slower than `gemm`); elsewhere plain loops compute the same sums.
pub fn product(
    dst: &mut [MaybeUninit<f32>],
    a: Lhs,
    (m, k): (usize, usize),
    b: &[f32],
    ldb: usize,
) {
    let width = dst.len() / m.max(1);
    assert_eq!(dst.len(), m * width, "destination size");
    if m == 0 || width == 0 {
        return;
    }
    if k == 0 {
        dst.fill(MaybeUninit::new(0.0));
        return;
    }
    assert!((k - 1) * ldb + width <= b.len(), "right operand too small");
    let last = (m - 1) * a.row_stride + (k - 1) * a.col_stride;
    assert!(last < a.data.len(), "left operand too small");
    #[cfg(target_arch = "x86_64")]
    let avx512 = std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let avx512 = false;
    // A few whole rows of `b` at a time (read in order, as few streams), used by every tile
    // of `dst` while they are in L2.
    for p0 in (0..k).step_by(DEPTH) {
        let depth = p0..(p0 + DEPTH).min(k);
        let mut i0 = 0;
        while i0 < m {
            let rows = if i0 + ROWS <= m { ROWS } else { 1 };
            for j0 in (0..width).step_by(COLS) {
                let at = (i0, j0, COLS.min(width - j0));
                let depth = depth.clone();
                match (avx512, rows) {
                    // SAFETY: AVX-512F is present; the asserts above keep the tile's reads of
                    // `a` and `b` (rows `depth`, columns `j0..j0 + cols`) and its writes to
                    // rows `i0..i0 + rows` of `dst` inside the slices.
                    #[cfg(target_arch = "x86_64")]
                    (true, ROWS) => unsafe {
                        avx512::tile::<ROWS>(dst, width, a, b, ldb, at, depth)
                    },
                    #[cfg(target_arch = "x86_64")]
                    (true, _) => unsafe { avx512::tile::<1>(dst, width, a, b, ldb, at, depth) },
                    (_, ROWS) => tile::<ROWS>(dst, width, a, b, ldb, at, depth),
                    _ => tile::<1>(dst, width, a, b, ldb, at, depth),
                }
            }
            i0 += rows;
        }
    }
}

/// Rows `i0..i0 + R`, columns `j0..j0 + cols` of `dst`, the inner steps `depth` added to what
/// the earlier steps wrote there (nothing before the first, which writes them).
fn tile<const R: usize>(
    dst: &mut [MaybeUninit<f32>],
    width: usize,
    a: Lhs,
    b: &[f32],
    ldb: usize,
    (i0, j0, cols): (usize, usize, usize),
    depth: std::ops::Range<usize>,
) {
    let mut acc = [[0.0f32; COLS]; R];
    if depth.start > 0 {
        for (r, acc) in acc.iter_mut().enumerate() {
            let earlier = &dst[(i0 + r) * width + j0..][..cols];
            // SAFETY: the pass over the first steps wrote these values.
            acc[..cols].copy_from_slice(unsafe { earlier.assume_init_ref() });
        }
    }
    for p in depth {
        let row = &b[p * ldb + j0..][..cols];
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = a.data[(i0 + r) * a.row_stride + p * a.col_stride];
            for (s, &w) in acc[..cols].iter_mut().zip(row) {
                *s = w.mul_add(x, *s);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        dst[(i0 + r) * width + j0..][..cols].write_copy_of_slice(&acc[..cols]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Lhs, MaybeUninit, COLS};

    const VECTORS: usize = COLS / 16;

    /// `tile` with the sums of the `R x COLS` outputs in registers; columns past `cols`
    /// masked off (neither read nor written), `dst` read only where earlier steps wrote it.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `a`'s rows `i0..i0 + R` and `b`'s rows `depth` at columns
    /// `j0..j0 + cols` lie inside their slices, and `dst`'s rows `i0..i0 + R` of `width`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile<const R: usize>(
        dst: &mut [MaybeUninit<f32>],
        width: usize,
        a: Lhs,
        b: &[f32],
        ldb: usize,
        (i0, j0, cols): (usize, usize, usize),
        depth: std::ops::Range<usize>,
    ) {
        let mut masks = [0u16; VECTORS];
        for (v, mask) in masks.iter_mut().enumerate() {
            *mask = ((1u32 << cols.saturating_sub(16 * v).min(16)) - 1) as u16;
        }
        let out: *mut f32 = dst.as_mut_ptr().add(i0 * width + j0).cast();
        let mut acc = [[_mm512_setzero_ps(); VECTORS]; R];
        if depth.start > 0 {
            for (r, acc) in acc.iter_mut().enumerate() {
                for v in 0..VECTORS {
                    acc[v] = _mm512_maskz_loadu_ps(masks[v], out.add(r * width + 16 * v));
                }
            }
        }
        let x = a.data.as_ptr().add(i0 * a.row_stride);
        for p in depth {
            let row = b.as_ptr().add(p * ldb + j0);
            let mut w = [_mm512_setzero_ps(); VECTORS];
            for v in 0..VECTORS {
                w[v] = _mm512_maskz_loadu_ps(masks[v], row.add(16 * v));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let xv = _mm512_set1_ps(*x.add(r * a.row_stride + p * a.col_stride));
                for v in 0..VECTORS {
                    acc[v] = _mm512_fmadd_ps(w[v], xv, acc[v]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for v in 0..VECTORS {
                _mm512_mask_storeu_ps(out.add(r * width + 16 * v), masks[v], acc[v]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::buffers::{assume_written, unwritten};
    use crate::flex::test_values::values;

    /// The definition, in f64.
    fn naive(a: Lhs, (m, k): (usize, usize), b: &[f32], ldb: usize, width: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * width];
        for i in 0..m {
            for j in 0..width {
                let sum: f64 = (0..k)
                    .map(|p| {
                        a.data[i * a.row_stride + p * a.col_stride] as f64 * b[p * ldb + j] as f64
                    })
                    .sum();
                out[i * width + j] = sum as f32;
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_for_any_rows_depth_and_width() {
        // Rows around the tile's 4, inner sizes around the 256-step passes, widths around
        // the 64-column blocks, a row-major and a transposed left operand.
        for (m, k, width, ldb) in [
            (1, 3, 5, 5),
            (4, 256, 64, 64),
            (7, 300, 130, 141),
            (32, 513, 200, 200),
            (5, 1, 64, 70),
        ] {
            let b = values(k * ldb, 3);
            for transposed in [false, true] {
                let data = values(m * k, 7);
                let a = if transposed {
                    Lhs {
                        data: &data,
                        row_stride: 1,
                        col_stride: m,
                    }
                } else {
                    Lhs {
                        data: &data,
                        row_stride: k,
                        col_stride: 1,
                    }
                };
                let mut dst = unwritten(m * width);
                product(&mut dst, a, (m, k), &b, ldb);
                // SAFETY: `product` writes every value.
                let dst = unsafe { assume_written(dst) };
                let expected = naive(a, (m, k), &b, ldb, width);
                for (i, (&d, &e)) in dst.iter().zip(&expected).enumerate() {
                    let tolerance = 1e-4 * (1.0 + e.abs()) * (k as f32).sqrt();
                    assert!((d - e).abs() <= tolerance, "m {m} k {k} width {width} transposed {transposed}: value {i}: {d} against {e}");
                }
            }
        }
    }
}
