//! 2-d max pooling, forward and backward, on plain `f32` slices in NCHW layout.
//!
//! Why hand-written: flex's max pool (with the indices autodiff keeps) took about a fifth of
//! GoogLeNet's inference time for no arithmetic. Here each window is scanned directly, planes
//! in parallel, and the backward pass finds each window's maximum again (the first one in
//! row-major order, PyTorch's and burn's choice for ties) instead of storing an index tensor.
//! Padding counts as minus infinity, as in PyTorch. Unlike PyTorch, a NaN inside a window is
//! not carried to the output (the comparison skips it); a network whose activations hold NaN
//! has diverged anyway, and its loss shows it.

use rayon::prelude::*;

use super::window::window_output;

/// Input `[n, c, h, w]`, a square `kernel` window, the same stride and padding on both axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry {
    /// `n * c`: pooling treats every channel of every image alike.
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// Round the output size up (PyTorch's `ceil_mode`), never starting a window in the
    /// right or bottom padding.
    pub ceil_mode: bool,
}

impl PoolGeometry {
    /// Output height and width by PyTorch's rule; `None` when the window does not fit.
    pub fn output_size(&self) -> Option<(usize, usize)> {
        let out = |len| window_output(len, self.kernel, self.stride, self.padding, self.ceil_mode);
        Some((out(self.h)?, out(self.w)?))
    }

    fn oh_ow(&self) -> (usize, usize) {
        self.output_size()
            .expect("pooling window larger than the padded input")
    }

    /// The input rows (or columns) under output position `o`, clipped to the input.
    fn window(&self, o: usize, len: usize) -> std::ops::Range<usize> {
        let start = (o * self.stride).saturating_sub(self.padding);
        let end = (o * self.stride + self.kernel)
            .saturating_sub(self.padding)
            .min(len);
        start..end.max(start)
    }
}

/// The maximum of every window, as `[n, c, oh, ow]`.
///
/// Per output row, the rows under the window are first reduced element by element (contiguous,
/// so the compiler vectorizes it), then each output takes the maximum across its columns (with
/// stride 1, as shifted whole slices, vectorized too).
pub fn max_pool(g: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.oh_ow();
    assert_eq!(x.len(), g.planes * g.h * g.w, "input length");
    let mut out = vec![0.0f32; g.planes * oh * ow];
    out.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(g.h * g.w))
        .for_each_init(Vec::new, |column_max, (out_plane, plane)| {
            for (oy, out_row) in out_plane.chunks_exact_mut(ow).enumerate() {
                let rows = g.window(oy, g.h);
                column_max.clear();
                column_max.resize(g.w, f32::NEG_INFINITY);
                for y in rows {
                    max_into(column_max, &plane[y * g.w..][..g.w]);
                }
                row_windows_max(g, column_max, out_row);
            }
        });
    out
}

/// `acc[i] = max(acc[i], row[i])`.
fn max_into(acc: &mut [f32], row: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(row) {
        // Written as a comparison (not `f32::max`) so that it compiles to one `maxps`.
        *a = if v > *a { v } else { *a };
    }
}

/// One output row: the maximum of `values` under each column window.
fn row_windows_max(g: &PoolGeometry, values: &[f32], out_row: &mut [f32]) {
    let ow = out_row.len();
    // Outputs whose window lies entirely inside the row, with stride 1: shifted slices.
    let (inner_lo, inner_hi) = if g.stride == 1 {
        let lo = g.padding.min(ow);
        let hi = (g.w + g.padding + 1).saturating_sub(g.kernel).clamp(lo, ow);
        (lo, hi)
    } else {
        (ow, ow)
    };
    if inner_lo < inner_hi {
        let n = inner_hi - inner_lo;
        let first = inner_lo - g.padding;
        out_row[inner_lo..inner_hi].copy_from_slice(&values[first..first + n]);
        for kj in 1..g.kernel {
            max_into(
                &mut out_row[inner_lo..inner_hi],
                &values[first + kj..first + kj + n],
            );
        }
    }
    for ox in (0..inner_lo).chain(inner_hi..ow) {
        let cols = g.window(ox, g.w);
        out_row[ox] = values[cols]
            .iter()
            .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    }
}

/// The input gradient: each window's output gradient goes to the first input position (in
/// row-major order) that holds the window's maximum (`output`, what `max_pool` returned).
///
/// A search that stops at the first match: GoogLeNet's pool rows are 3 to 48 outputs wide,
/// too short for branch-free vector passes over every tap to pay off (measured slower).
pub fn max_pool_backward(g: &PoolGeometry, x: &[f32], output: &[f32], grad: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.oh_ow();
    assert_eq!(x.len(), g.planes * g.h * g.w, "input length");
    assert_eq!(output.len(), g.planes * oh * ow, "output length");
    assert_eq!(grad.len(), output.len(), "output gradient length");
    let mut grad_x = vec![0.0f32; x.len()];
    grad_x
        .par_chunks_mut(g.h * g.w)
        .zip(x.par_chunks(g.h * g.w))
        .zip(output.par_chunks(oh * ow).zip(grad.par_chunks(oh * ow)))
        .for_each(|((gx_plane, plane), (out_plane, grad_plane))| {
            for oy in 0..oh {
                let rows = g.window(oy, g.h);
                let best = &out_plane[oy * ow..][..ow];
                let grad_row = &grad_plane[oy * ow..][..ow];
                for (ox, (&b, &d)) in best.iter().zip(grad_row).enumerate() {
                    let cols = g.window(ox, g.w);
                    for y in rows.clone() {
                        let row = &plane[y * g.w + cols.start..y * g.w + cols.end];
                        if let Some(j) = row.iter().position(|&v| v == b) {
                            gx_plane[y * g.w + cols.start + j] += d;
                            break;
                        }
                    }
                }
            }
        });
    grad_x
}
