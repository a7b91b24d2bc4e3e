//! `dst = a · bᵀ` for a left operand with few rows (a dense layer's output gradient) and a
//! right operand whose rows are read where they lie, never copied or transposed: a dense
//! layer's weights, `[k, n]`, in the input gradient `dx[m, k] = dy[m, n] · weightᵀ`. Each
//! output is the dot product of a row of `a` with a row of `b`, both read in order.
//!
//! Why not `gemm`: as in `streamed_product`, it packs the weights before multiplying, and with
//! 32 rows each packed weight is used for 32 multiply-adds only. Here a tile of `ROWS` rows of
//! `a` by `WEIGHT_ROWS` rows of `b` keeps its `ROWS x WEIGHT_ROWS` sums in AVX-512 registers,
//! 16 lanes each, over the whole inner dimension; the `WEIGHT_ROWS` rows of `b` are read from
//! memory once and stay in L2 while every tile of rows of `a` uses them.

use std::mem::MaybeUninit;

/// Rows of `a` per tile.
const ROWS: usize = 4;
/// Rows of `b` per tile: 4 x 6 vectors of sums, 24 of the 32 AVX-512 registers, beside the 4
/// vectors of `a` and the one of `b` that each step loads.
const WEIGHT_ROWS: usize = 6;

/// A row-major operand: row `i` at `data[i * stride..][..n]`.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    pub data: &'a [f32],
    pub stride: usize,
}

/// `dst[i][p] = Σ_j a[i][j] · b[p][j]` for `i < m`, `p < width`, `j < n`; `dst` holds `m` rows
/// of `width` values, every one of which it writes. With AVX-512 each dot product is summed in
/// 16 lanes (`j` modulo 16, in order) and then across them, whichever tile computes it; elsewhere
/// plain loops compute the same sums in order.
pub fn dots(dst: &mut [MaybeUninit<f32>], a: Rows, b: Rows, (m, n): (usize, usize)) {
    let width = dst.len() / m.max(1);
    assert_eq!(dst.len(), m * width, "destination size");
    if m == 0 || width == 0 {
        return;
    }
    assert!(
        (m - 1) * a.stride + n <= a.data.len(),
        "left operand too small"
    );
    assert!(
        (width - 1) * b.stride + n <= b.data.len(),
        "right operand too small"
    );
    #[cfg(target_arch = "x86_64")]
    let avx512 = std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let avx512 = false;
    let mut p0 = 0;
    while p0 < width {
        let weight_rows = if p0 + WEIGHT_ROWS <= width {
            WEIGHT_ROWS
        } else {
            1
        };
        let mut i0 = 0;
        while i0 < m {
            let rows = if i0 + ROWS <= m { ROWS } else { 1 };
            let at = (i0, p0);
            match (avx512, rows, weight_rows) {
                // SAFETY: AVX-512F is present; the asserts above keep the tile's reads (rows
                // `i0..i0 + rows` of `a`, `p0..p0 + weight_rows` of `b`, `n` values each) and
                // its writes (`dst`'s rows `i0..i0 + rows`, columns `p0..p0 + weight_rows`)
                // inside the slices.
                #[cfg(target_arch = "x86_64")]
                (true, ROWS, WEIGHT_ROWS) => unsafe {
                    avx512::tile::<ROWS, WEIGHT_ROWS>(dst, width, a, b, n, at)
                },
                #[cfg(target_arch = "x86_64")]
                (true, ROWS, _) => unsafe { avx512::tile::<ROWS, 1>(dst, width, a, b, n, at) },
                #[cfg(target_arch = "x86_64")]
                (true, _, WEIGHT_ROWS) => unsafe {
                    avx512::tile::<1, WEIGHT_ROWS>(dst, width, a, b, n, at)
                },
                #[cfg(target_arch = "x86_64")]
                (true, _, _) => unsafe { avx512::tile::<1, 1>(dst, width, a, b, n, at) },
                _ => tile(dst, width, a, b, n, (at, rows, weight_rows)),
            }
            i0 += rows;
        }
        p0 += weight_rows;
    }
}

/// Rows `i0..i0 + rows`, columns `p0..p0 + weight_rows` of `dst`, in plain loops.
fn tile(
    dst: &mut [MaybeUninit<f32>],
    width: usize,
    a: Rows,
    b: Rows,
    n: usize,
    ((i0, p0), rows, weight_rows): ((usize, usize), usize, usize),
) {
    for i in i0..i0 + rows {
        let x = &a.data[i * a.stride..][..n];
        for p in p0..p0 + weight_rows {
            let w = &b.data[p * b.stride..][..n];
            let sum = x.iter().zip(w).fold(0.0f32, |s, (&x, &w)| x.mul_add(w, s));
            dst[i * width + p].write(sum);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{MaybeUninit, Rows};

    /// `R` rows of `a` by `P` rows of `b` from `(i0, p0)`, their `R x P` dot products in
    /// registers (by row of `b`, then of `a`), the last `n % 16` values masked (neither read
    /// past nor summed).
    ///
    /// # Safety
    /// The CPU has AVX-512F; rows `i0..i0 + R` of `a` and `p0..p0 + P` of `b` hold `n` values
    /// inside their slices, and `dst` holds rows `i0..i0 + R` of `width` with `p0 + P <= width`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile<const R: usize, const P: usize>(
        dst: &mut [MaybeUninit<f32>],
        width: usize,
        a: Rows,
        b: Rows,
        n: usize,
        (i0, p0): (usize, usize),
    ) {
        let x = a.data.as_ptr().add(i0 * a.stride);
        let w = b.data.as_ptr().add(p0 * b.stride);
        let mut acc = [[_mm512_setzero_ps(); R]; P];
        for j in (0..n).step_by(16) {
            // The last `n % 16` values masked: a masked load of all 16 costs a plain one.
            let mask = ((1u32 << (n - j).min(16)) - 1) as __mmask16;
            let mut xs = [_mm512_setzero_ps(); R];
            for (r, xs) in xs.iter_mut().enumerate() {
                *xs = _mm512_maskz_loadu_ps(mask, x.add(r * a.stride + j));
            }
            for (q, acc) in acc.iter_mut().enumerate() {
                let wq = _mm512_maskz_loadu_ps(mask, w.add(q * b.stride + j));
                for (acc, &xr) in acc.iter_mut().zip(&xs) {
                    *acc = _mm512_fmadd_ps(xr, wq, *acc);
                }
            }
        }
        for (q, acc) in acc.iter().enumerate() {
            for (r, &sums) in acc.iter().enumerate() {
                dst[(i0 + r) * width + p0 + q].write(_mm512_reduce_add_ps(sums));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::buffers::{assume_written, unwritten};
    use crate::flex::test_values::values;

    #[test]
    fn matches_the_definition_for_any_rows_width_and_length() {
        // Rows around the tile's 4, widths around its 6 rows of `b`, lengths around the
        // 16-value vectors, strides wider than the rows.
        for (m, width, n, stride) in [
            (1, 1, 3, 3),
            (4, 6, 16, 16),
            (7, 13, 300, 301),
            (32, 20, 513, 520),
            (5, 7, 1, 4),
        ] {
            let a_data = values(m * stride, 7);
            let b_data = values(width * stride, 3);
            let a = Rows {
                data: &a_data,
                stride,
            };
            let b = Rows {
                data: &b_data,
                stride,
            };
            let mut dst = unwritten(m * width);
            dots(&mut dst, a, b, (m, n));
            // SAFETY: `dots` writes every value.
            let dst = unsafe { assume_written(dst) };
            for i in 0..m {
                for p in 0..width {
                    let expected: f64 = (0..n)
                        .map(|j| a_data[i * stride + j] as f64 * b_data[p * stride + j] as f64)
                        .sum();
                    let got = dst[i * width + p];
                    let tolerance = 1e-4 * (1.0 + expected.abs() as f32) * (n as f32).sqrt();
                    assert!(
                        (got - expected as f32).abs() <= tolerance,
                        "m {m} width {width} n {n}: ({i}, {p}): {got} against {expected}"
                    );
                }
            }
        }
    }
}
