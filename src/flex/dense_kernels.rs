//! A fully connected layer, `relu(x · weight + bias)` (or without the ReLU), forward and
//! backward on `f32` slices: `x [m, k]`, `weight [k, n]` (burn's layout), `bias [n]`.
//!
//! Why hand-written: burn 0.22's flex backend multiplies through `gemm`, which hands a product
//! with one row (a batch of one image) to its matrix-vector kernel and the weight gradient of
//! one or two images to its outer-product kernel, and both run on one thread whatever
//! parallelism they are given. A 4096-wide layer at batch 1 is a pass over 64 to 400 MB of
//! weights that one core then reads alone. Here a product with few rows is cut into one block
//! of columns (or of weight rows) per thread; with 4 to 64 rows on AVX-512, the forward product
//! and the weight gradient read the weights in place (`streamed_product`), where `gemm` would
//! pack them first; larger batches go to `gemm`'s own parallelism.
//! The bias, the ReLU and its mask are fused into the passes around the product.

use rayon::prelude::*;

use super::buffers::{assume_written, unwritten};
use super::matmul::{matmul, Mat};
use super::simd::{instruction_set, vectorized};
use super::streamed_product::{self, Lhs};

/// Batches of fewer rows than this are cut into blocks, one per thread (`gemm` runs its
/// one- and two-row kernels on one thread).
const FEW_ROWS: usize = 4;

/// Gradients of the layer's three inputs.
pub struct DenseGrads {
    /// `[m, k]`, when asked for.
    pub x: Option<Vec<f32>>,
    /// `[k, n]`.
    pub weight: Vec<f32>,
    /// `[n]`.
    pub bias: Vec<f32>,
}

/// Products of fewer multiply-adds than this run on one thread, the threshold burn's flex
/// backend uses (192³): below it, rayon's cost per call is not repaid (LeNet's layers, and
/// GoogLeNet's 1024 x 10 classifier at batch 1).
const PARALLEL_WORK: usize = 192 * 192 * 192;

/// Whether a product `[m x k] · [k x n]` is cut into blocks, one per thread: few rows, enough
/// work.
fn blocks_per_thread((m, k, n): (usize, usize, usize)) -> Option<usize> {
    let threads = rayon::current_num_threads();
    (m < FEW_ROWS && threads > 1 && m * k * n >= PARALLEL_WORK).then_some(threads)
}

/// Batches of at most this many rows multiply by the weights where they lie
/// (`streamed_product`) on CPUs with AVX-512, instead of through `gemm`. AlexNet's 6400 x 4096
/// layer's forward pass on a 2-core Intel Xeon with AVX-512 (`bench --profile`, 2 runs each):
/// at batch 32 9.3 ms against `gemm`'s 20.7, at 64 15.2-15.8 against 30.0-31.7, at 128 27.2
/// against 21.4-21.6 (where `gemm`'s packing pays off).
const STREAMED_MAX_ROWS: usize = 64;

/// Whether a product with `m` rows and `m * k * n` multiply-adds goes to `streamed_product`.
fn streamed((m, k, n): (usize, usize, usize)) -> bool {
    (FEW_ROWS..=STREAMED_MAX_ROWS).contains(&m)
        && m * k * n >= PARALLEL_WORK
        && instruction_set() == "AVX-512"
}

/// `gemm`'s own parallelism for a product of `m * k * n` multiply-adds.
fn parallelism((m, k, n): (usize, usize, usize)) -> gemm::Parallelism {
    if m * k * n >= PARALLEL_WORK {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    }
}

/// `0..len` cut into `parts` nearly equal ranges.
fn ranges(len: usize, parts: usize) -> Vec<(usize, usize)> {
    let step = len.div_ceil(parts).max(1);
    (0..len)
        .step_by(step)
        .map(|start| (start, (start + step).min(len)))
        .collect()
}

/// Each block's part (its rows of `c1 - c0` values) into columns `c0..c1` of `dst`'s rows of
/// `width`.
fn place_column_blocks(
    dst: &mut [f32],
    width: usize,
    blocks: &[(usize, usize)],
    parts: &[Vec<f32>],
) {
    for (&(c0, c1), part) in blocks.iter().zip(parts) {
        for (row, block_row) in dst.chunks_exact_mut(width).zip(part.chunks_exact(c1 - c0)) {
            row[c0..c1].copy_from_slice(block_row);
        }
    }
}

/// `dst[m x n] = lhs[m x k] · rhs[k x n]` computed as one block of columns per thread, each
/// block's product single-threaded. `rhs_columns(c0)` is the view of `rhs` from column `c0` on.
fn by_column_blocks<'a>(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: Mat,
    rhs_columns: impl Fn(usize) -> Mat<'a> + Sync,
    threads: usize,
) {
    let blocks = ranges(n, threads);
    let parts: Vec<Vec<f32>> = blocks
        .par_iter()
        .map(|&(c0, c1)| {
            let mut part = vec![0.0; m * (c1 - c0)];
            let shape = (m, c1 - c0, k);
            matmul(
                &mut part,
                shape,
                lhs,
                rhs_columns(c0),
                false,
                gemm::Parallelism::None,
            );
            part
        })
        .collect();
    place_column_blocks(dst, n, &blocks, &parts);
}

/// Weight rows read together by `one_row_product`.
const ROWS_TOGETHER: usize = 8;

/// `y += x · weight[.., c0..c0 + y.len()]` for one row `x` (`[k]`) and the columns of `y`, on
/// the calling thread (inside `simd::vectorized`); `forward` hands it zeros.
///
/// Why not `gemm`: its matrix-vector kernel (what a product with one row goes to) read
/// AlexNet's 6400 x 4096 and 4096 x 4096 weights at 26-27 GB/s on a 2-core Intel Xeon with
/// AVX-512 (`bench --model alexnet --batch 1 --profile`: 3.9 and 2.6 ms), where PyTorch's
/// `linear` read them at 51-55 GB/s (2.07 and 1.23 ms, same machine, 2 threads). Here each
/// step reads `ROWS_TOGETHER` rows side by side (as many sequential streams) and adds their
/// multiples into `y`, which stays in L1: eight multiply-adds per load and store of `y`. Each
/// value of `y` is one sum over `k` in order, whatever the split across threads.
#[inline(always)]
fn one_row_product(x: &[f32], weight: &[f32], n: usize, c0: usize, y: &mut [f32]) {
    let width = y.len();
    let mut blocks = x.chunks_exact(ROWS_TOGETHER);
    for (b, xs) in (&mut blocks).enumerate() {
        let rows: [&[f32]; ROWS_TOGETHER] =
            std::array::from_fn(|r| &weight[(b * ROWS_TOGETHER + r) * n + c0..][..width]);
        for (j, v) in y.iter_mut().enumerate() {
            let mut sum = *v;
            for r in 0..ROWS_TOGETHER {
                sum = rows[r][j].mul_add(xs[r], sum);
            }
            *v = sum;
        }
    }
    let done = x.len() - blocks.remainder().len();
    for (r, &xv) in blocks.remainder().iter().enumerate() {
        let row = &weight[(done + r) * n + c0..][..width];
        for (v, &w) in y.iter_mut().zip(row) {
            *v = w.mul_add(xv, *v);
        }
    }
}

/// `relu(x · weight + bias)` (or without the ReLU), `[m, n]`.
pub fn forward(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    (m, k, n): (usize, usize, usize),
    relu: bool,
) -> Vec<f32> {
    assert_eq!(x.len(), m * k, "input size");
    assert_eq!(weight.len(), k * n, "weight size");
    assert_eq!(bias.len(), n, "bias size");
    let mut y = vec![0.0; m * n];
    let lhs = Mat::row_major(x, k);
    if streamed((m, k, n)) {
        streamed_forward(&mut y, x, weight, (m, k, n));
    } else {
        match blocks_per_thread((m, k, n)) {
            Some(threads) if m == 1 && instruction_set() != "baseline" => {
                let step = n.div_ceil(threads);
                y.par_chunks_mut(step).enumerate().for_each(|(i, part)| {
                    vectorized(
                        #[inline(always)]
                        || one_row_product(x, weight, n, i * step, part),
                    )
                });
            }
            Some(threads) => {
                let columns = |c0: usize| Mat::row_major(&weight[c0..], n);
                by_column_blocks(&mut y, (m, n, k), lhs, columns, threads);
            }
            None => {
                let (rhs, parallelism) = (Mat::row_major(weight, n), parallelism((m, k, n)));
                matmul(&mut y, (m, n, k), lhs, rhs, false, parallelism);
            }
        }
    }
    for row in y.chunks_exact_mut(n) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v = if relu { (*v + b).max(0.0) } else { *v + b };
        }
    }
    y
}

/// `y[m x n] = x[m x k] · weight[k x n]` by `streamed_product`, one block of columns per
/// thread (each a multiple of the kernel's tile width, so that each value is computed alike on
/// any thread count).
fn streamed_forward(y: &mut [f32], x: &[f32], weight: &[f32], (m, k, n): (usize, usize, usize)) {
    let step = n
        .div_ceil(rayon::current_num_threads())
        .next_multiple_of(streamed_product::COLS);
    let blocks = ranges(n, n.div_ceil(step));
    let parts: Vec<Vec<f32>> = blocks
        .par_iter()
        .map(|&(c0, c1)| {
            let mut part = unwritten(m * (c1 - c0));
            let a = Lhs {
                data: x,
                row_stride: k,
                col_stride: 1,
            };
            streamed_product::product(&mut part, a, (m, k), &weight[c0..], n);
            // SAFETY: `product` writes every value.
            unsafe { assume_written(part) }
        })
        .collect();
    place_column_blocks(y, n, &blocks, &parts);
}

/// `weight[k x n] = xᵀ[k x m] · dy[m x n]` by `streamed_product`, one block of weight rows per
/// thread: row `r` of the gradient is `Σ_i x[i][r] · dy[i]`, the batch the inner dimension.
fn streamed_weight_gradient(x: &[f32], dy: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f32> {
    let mut grad_w = unwritten(k * n);
    let rows_per_block = k.div_ceil(rayon::current_num_threads()).max(1);
    grad_w
        .par_chunks_mut(rows_per_block * n)
        .enumerate()
        .for_each(|(i, block)| {
            let a = Lhs {
                data: &x[i * rows_per_block..],
                row_stride: 1,
                col_stride: k,
            };
            let rows = block.len() / n;
            streamed_product::product(block, a, (rows, m), dy, n);
        });
    // SAFETY: the blocks cover the gradient, and `product` writes every value of each.
    unsafe { assume_written(grad_w) }
}

/// Gradients of `forward` given the gradient of its `output` (what `forward` returned; with
/// `relu` its zeros mask the incoming gradient). The input gradient only when `need_x`.
pub fn backward(
    x: &[f32],
    weight: &[f32],
    output: &[f32],
    grad_output: &[f32],
    (m, k, n): (usize, usize, usize),
    relu: bool,
    need_x: bool,
) -> DenseGrads {
    assert_eq!(x.len(), m * k, "input size");
    assert_eq!(weight.len(), k * n, "weight size");
    assert_eq!(output.len(), m * n, "output size");
    assert_eq!(grad_output.len(), m * n, "output gradient size");
    let dy: Vec<f32> = if relu {
        let pairs = grad_output.iter().zip(output);
        pairs
            .map(|(&g, &y)| if y > 0.0 { g } else { 0.0 })
            .collect()
    } else {
        grad_output.to_vec()
    };
    let mut bias = vec![0.0f32; n];
    for row in dy.chunks_exact(n) {
        bias.iter_mut().zip(row).for_each(|(b, &d)| *b += d);
    }
    let dy_mat = Mat::row_major(&dy, n);

    // weight[k x n] = xᵀ[k x m] · dy[m x n]: with few rows, one block of weight rows per thread.
    let grad_w = if streamed((m, k, n)) {
        streamed_weight_gradient(x, &dy, (m, k, n))
    } else {
        let mut grad_w = vec![0.0; k * n];
        match blocks_per_thread((m, k, n)) {
            Some(threads) => {
                let rows_per_block = k.div_ceil(threads).max(1);
                grad_w
                    .par_chunks_mut(rows_per_block * n)
                    .enumerate()
                    .for_each(|(i, block)| {
                        let x_t = Mat::col_major(&x[i * rows_per_block..], k);
                        let shape = (block.len() / n, n, m);
                        matmul(block, shape, x_t, dy_mat, false, gemm::Parallelism::None);
                    });
            }
            None => {
                let x_t = Mat::col_major(x, k);
                matmul(
                    &mut grad_w,
                    (k, n, m),
                    x_t,
                    dy_mat,
                    false,
                    parallelism((m, k, n)),
                );
            }
        }
        grad_w
    };

    // x[m x k] = dy[m x n] · weightᵀ[n x k].
    let grad_x = need_x.then(|| {
        let mut gx = vec![0.0; m * k];
        match blocks_per_thread((m, k, n)) {
            Some(threads) => {
                let columns = |c0: usize| Mat::col_major(&weight[c0 * n..], n);
                by_column_blocks(&mut gx, (m, k, n), dy_mat, columns, threads);
            }
            None => {
                let weight_t = Mat::col_major(weight, n);
                matmul(
                    &mut gx,
                    (m, k, n),
                    dy_mat,
                    weight_t,
                    false,
                    parallelism((m, k, n)),
                );
            }
        }
        gx
    });
    DenseGrads {
        x: grad_x,
        weight: grad_w,
        bias,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::test_values::{assert_close, in_pool, values};

    /// The definitions, one multiply-add at a time: output, and the three gradients.
    fn naive(
        x: &[f32],
        w: &[f32],
        b: &[f32],
        dy: &[f32],
        (m, k, n): (usize, usize, usize),
        relu: bool,
    ) -> [Vec<f32>; 4] {
        let mut y = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f32 = (0..k).map(|r| x[i * k + r] * w[r * n + j]).sum();
                let v = dot + b[j];
                y[i * n + j] = if relu { v.max(0.0) } else { v };
            }
        }
        let g: Vec<f32> = (0..m * n)
            .map(|i| if relu && y[i] <= 0.0 { 0.0 } else { dy[i] })
            .collect();
        let gx = (0..m * k)
            .map(|p| {
                (0..n)
                    .map(|j| g[(p / k) * n + j] * w[(p % k) * n + j])
                    .sum()
            })
            .collect();
        let gw = (0..k * n)
            .map(|p| (0..m).map(|i| x[i * k + p / n] * g[i * n + p % n]).sum())
            .collect();
        let gb = (0..n).map(|j| (0..m).map(|i| g[i * n + j]).sum()).collect();
        [y, gx, gw, gb]
    }

    #[test]
    fn forward_and_gradients_match_their_definitions_for_few_and_many_rows() {
        // One and two rows (one block per thread, given the work), and more (gemm); widths
        // that do not divide by the thread count.
        // The first two have enough work (`PARALLEL_WORK`) to be cut into blocks; the first's
        // inner dimension leaves 3 rows after `one_row_product`'s blocks of 8. The next two go
        // to `streamed_product` (with AVX-512): 32 rows and 6 (a tile of 4 and 2 single rows),
        // widths that leave a partial block of columns, inner sizes not a multiple of its
        // passes.
        for (m, k, n) in [
            (1, 2003, 3601),
            (2, 1800, 2000),
            (32, 700, 1000),
            (6, 1100, 1500),
            (1, 37, 23),
            (9, 33, 17),
        ] {
            for relu in [false, true] {
                for threads in [1, 3] {
                    let x = values(m * k, 1);
                    let w = values(k * n, 2);
                    let b = values(n, 3);
                    let dy = values(m * n, 4);
                    let [y, gx, gw, gb] = naive(&x, &w, &b, &dy, (m, k, n), relu);
                    let (y2, grads) = in_pool(threads, || {
                        let y2 = forward(&x, &w, &b, (m, k, n), relu);
                        let grads = backward(&x, &w, &y2, &dy, (m, k, n), relu, true);
                        (y2, grads)
                    });
                    let what = format!("{m}x{k}x{n}, relu {relu}, {threads} threads");
                    assert_close(&format!("{what}: output"), &y, &y2);
                    assert_close(&format!("{what}: input"), &gx, &grads.x.unwrap());
                    assert_close(&format!("{what}: weight"), &gw, &grads.weight);
                    assert_close(&format!("{what}: bias"), &gb, &grads.bias);
                }
            }
        }
    }

    #[test]
    fn few_rows_give_the_same_bits_on_any_thread_count() {
        // One row (`one_row_product`) and 32 (`streamed_product` with AVX-512).
        for (m, k, n) in [(1, 1001, 7001), (32, 501, 1100)] {
            let (x, w, b) = (values(m * k, 5), values(k * n, 6), values(n, 7));
            let dy = values(m * n, 8);
            let run = |threads| {
                in_pool(threads, || {
                    let y = forward(&x, &w, &b, (m, k, n), true);
                    let grads = backward(&x, &w, &y, &dy, (m, k, n), true, false);
                    (y, grads.weight)
                })
            };
            assert!(run(2) == run(3), "{m}x{k}x{n}");
        }
    }
}
