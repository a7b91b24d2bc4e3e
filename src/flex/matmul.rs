//! Matrix products on `f32` slices through the `gemm` crate (what burn's flex backend uses),
//! with strided views, so that transposes and channel slices are read in place.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// A read-only matrix view: data with its row and column strides.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f32],
    row_stride: isize,
    col_stride: isize,
}

impl<'a> Mat<'a> {
    /// Rows of `row_len` contiguous values.
    pub fn row_major(data: &'a [f32], row_len: usize) -> Self {
        Self {
            data,
            row_stride: row_len as isize,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix whose rows hold `row_len` values.
    pub fn col_major(data: &'a [f32], row_len: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: row_len as isize,
        }
    }

    /// Element `(i, j)` at `data[i · row_stride + j · col_stride]`.
    pub fn strided(data: &'a [f32], row_stride: usize, col_stride: usize) -> Self {
        Self {
            data,
            row_stride: row_stride as isize,
            col_stride: col_stride as isize,
        }
    }

    /// The view starting `inner` steps along the inner dimension of a product: `inner` columns
    /// on for a left operand (`left`), `inner` rows down for a right one.
    pub fn skip_inner(&self, inner: usize, left: bool) -> Mat<'a> {
        let stride = if left {
            self.col_stride
        } else {
            self.row_stride
        };
        Mat {
            data: &self.data[inner * stride as usize..],
            ..*self
        }
    }

    /// The view starting `rows` rows down.
    pub fn skip_rows(&self, rows: usize) -> Mat<'a> {
        Mat {
            data: &self.data[rows * self.row_stride as usize..],
            ..*self
        }
    }

    /// The largest offset reached by an `rows x cols` view, to bound-check before the GEMM.
    fn span(&self, rows: usize, cols: usize) -> usize {
        (rows - 1) * self.row_stride as usize + (cols - 1) * self.col_stride as usize + 1
    }
}

/// `dst[m x n] (+)= lhs[m x k] · rhs[k x n]`, `dst` row-major; accumulates when `accumulate`.
pub fn matmul(
    dst: &mut [f32],
    shape: (usize, usize, usize),
    lhs: Mat,
    rhs: Mat,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    // SAFETY: `dst` is a whole slice of initialized floats, which `gemm` may read.
    unsafe {
        product(
            dst.as_mut_ptr(),
            dst.len(),
            shape,
            lhs,
            rhs,
            accumulate,
            parallelism,
        )
    }
}

/// `dst[m x n] = lhs[m x k] · rhs[k x n]` into values not yet written (a kernel's fresh
/// output, `buffers::unwritten`): `gemm` writes every one of the `m x n` and reads none.
pub fn matmul_write(
    dst: &mut [MaybeUninit<f32>],
    shape: (usize, usize, usize),
    lhs: Mat,
    rhs: Mat,
    parallelism: gemm::Parallelism,
) {
    // SAFETY: without `read_dst`, `gemm` only writes `dst` ("dst := beta × lhs × rhs").
    unsafe {
        product(
            dst.as_mut_ptr().cast(),
            dst.len(),
            shape,
            lhs,
            rhs,
            false,
            parallelism,
        )
    }
}

/// The `gemm` call of `matmul` and `matmul_write`.
///
/// # Safety
/// `dst` points to `dst_len` writable floats, aliasing neither operand; with `read_dst` they
/// are initialized.
unsafe fn product(
    dst: *mut f32,
    dst_len: usize,
    (m, n, k): (usize, usize, usize),
    lhs: Mat,
    rhs: Mat,
    read_dst: bool,
    parallelism: gemm::Parallelism,
) {
    assert!(dst_len >= m * n, "GEMM destination too small");
    assert!(
        lhs.data.len() >= lhs.span(m, k),
        "GEMM left operand too small"
    );
    assert!(
        rhs.data.len() >= rhs.span(k, n),
        "GEMM right operand too small"
    );
    // SAFETY: the three asserts above keep every access of an m x n, m x k and k x n view with
    // these strides inside its slice; the caller vouches for `dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            read_dst,
            lhs.data.as_ptr(),
            lhs.col_stride,
            lhs.row_stride,
            rhs.data.as_ptr(),
            rhs.col_stride,
            rhs.row_stride,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `matmul` with the inner dimension `k` cut into one slice per rayon thread: each slice's
/// product single-threaded, then the partial products added in order (the same bits on every
/// run with the same thread count). For the weight gradient of a batch smaller than the thread
/// count, where `k` is the plane (50,176 for a 224x224 map) and `m x n` can be as small as VGG's
/// first layer's 8 x 9: `gemm` parallelizes over `m` and `n` only, so there it ran on one
/// thread. Short `k` goes to `gemm`'s own parallelism.
pub fn matmul_inner_split(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: Mat,
    rhs: Mat,
    accumulate: bool,
) {
    const MIN_SLICE: usize = 512;
    let threads = rayon::current_num_threads();
    let slices = threads.min(k / MIN_SLICE);
    if slices < 2 {
        let parallelism = gemm::Parallelism::Rayon(threads);
        matmul(dst, (m, n, k), lhs, rhs, accumulate, parallelism);
        return;
    }
    let len = k.div_ceil(slices);
    let partials: Vec<Vec<f32>> = (0..slices)
        .into_par_iter()
        .map(|i| {
            let (start, end) = (i * len, ((i + 1) * len).min(k));
            let mut part = vec![0.0; m * n];
            let (a, b) = (lhs.skip_inner(start, true), rhs.skip_inner(start, false));
            matmul(
                &mut part,
                (m, n, end - start),
                a,
                b,
                false,
                gemm::Parallelism::None,
            );
            part
        })
        .collect();
    let dst = &mut dst[..m * n];
    if !accumulate {
        dst.fill(0.0);
    }
    for part in &partials {
        dst.iter_mut().zip(part).for_each(|(d, p)| *d += p);
    }
}

/// `matmul_write` with the rows of `dst` (and `lhs`) cut into one block per rayon thread,
/// each block's product single-threaded.
pub fn matmul_row_split(
    dst: &mut [MaybeUninit<f32>],
    (m, n, k): (usize, usize, usize),
    lhs: Mat,
    rhs: Mat,
) {
    let threads = rayon::current_num_threads();
    let rows = m.div_ceil(threads).max(1);
    dst[..m * n]
        .par_chunks_mut(rows * n)
        .enumerate()
        .for_each(|(i, block)| {
            let block_rows = block.len() / n;
            let a = lhs.skip_rows(i * rows);
            matmul_write(block, (block_rows, n, k), a, rhs, gemm::Parallelism::None);
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::buffers::{assume_written, unwritten};
    use crate::flex::test_values::{assert_close, in_pool, values};

    #[test]
    fn a_product_split_by_rows_is_the_product_bit_for_bit() {
        // 3 threads over 100 rows: blocks of 34, 34 and 32; a strided (transposed) left operand;
        // every value of the unwritten destination written.
        let (m, n, k) = (100, 37, 65);
        let (a, b) = (values(m * k, 1), values(k * n, 2));
        let (lhs, rhs) = (Mat::col_major(&a, m), Mat::row_major(&b, n));
        let mut whole = values(m * n, 3);
        matmul(
            &mut whole,
            (m, n, k),
            lhs,
            rhs,
            false,
            gemm::Parallelism::None,
        );
        let mut split = unwritten(m * n);
        in_pool(3, || matmul_row_split(&mut split, (m, n, k), lhs, rhs));
        // SAFETY: the product wrote all m x n values.
        let split = unsafe { assume_written(split) };
        assert_eq!(whole, split);
    }

    #[test]
    fn a_product_split_along_its_inner_dimension_is_the_product() {
        let (m, n, k) = (5, 7, 3001);
        let (a, b) = (values(m * k, 7), values(k * n, 8));
        let mut whole = values(m * n, 9);
        let mut split = whole.clone();
        let (lhs, rhs) = (Mat::row_major(&a, k), Mat::row_major(&b, n));
        matmul(
            &mut whole,
            (m, n, k),
            lhs,
            rhs,
            true,
            gemm::Parallelism::None,
        );
        // Three threads: three slices of about 1,000.
        in_pool(3, || {
            matmul_inner_split(&mut split, (m, n, k), lhs, rhs, true)
        });
        assert_close("accumulated", &whole, &split);
        in_pool(3, || {
            matmul_inner_split(&mut split, (m, n, k), lhs, rhs, false)
        });
        matmul(
            &mut whole,
            (m, n, k),
            lhs,
            rhs,
            false,
            gemm::Parallelism::None,
        );
        assert_close("overwritten", &whole, &split);
    }
}
