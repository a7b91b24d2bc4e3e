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

use super::buffers::zeroed;
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
/// so the compiler vectorizes it), then the output row takes the maximum over the kernel's
/// columns, one tap at a time across the whole row (with stride 1 a shifted slice, vectorized
/// too; no per-output window bounds).
pub fn max_pool(g: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.oh_ow();
    assert_eq!(x.len(), g.planes * g.h * g.w, "input length");
    let taps = column_taps(g, ow);
    let mut out = zeroed(g.planes * oh * ow);
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
                row_windows_max(g, &taps, column_max, out_row);
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

/// For each kernel column `kj`: the outputs `lo..hi` whose tap falls inside the row, and the
/// input column of output `lo` (output `o` reads column `first + (o - lo) * stride`).
struct Tap {
    lo: usize,
    hi: usize,
    first: usize,
}

fn column_taps(g: &PoolGeometry, ow: usize) -> Vec<Tap> {
    (0..g.kernel)
        .map(|kj| {
            // `o * stride + kj >= padding` and `< w + padding`.
            let lo = g.padding.saturating_sub(kj).div_ceil(g.stride).min(ow);
            let hi = (g.w + g.padding)
                .saturating_sub(kj)
                .div_ceil(g.stride)
                .clamp(lo, ow);
            let first = (lo * g.stride + kj).saturating_sub(g.padding);
            Tap { lo, hi, first }
        })
        .collect()
}

/// One output row: the maximum of `values` under each column window, tap by tap.
fn row_windows_max(g: &PoolGeometry, taps: &[Tap], values: &[f32], out_row: &mut [f32]) {
    out_row.fill(f32::NEG_INFINITY);
    for tap in taps.iter().filter(|t| t.lo < t.hi) {
        let out = &mut out_row[tap.lo..tap.hi];
        if g.stride == 1 {
            max_into(out, &values[tap.first..tap.first + out.len()]);
        } else {
            let columns = values[tap.first..].iter().step_by(g.stride);
            for (a, &v) in out.iter_mut().zip(columns) {
                *a = if v > *a { v } else { *a };
            }
        }
    }
}

/// The input gradient: each window's output gradient goes to the first input position (in
/// row-major order) that holds the window's maximum (`output`, what `max_pool` returned).
///
/// Every tap of a window is compared, last to first, keeping the latest match: a select, not a
/// branch. (A search that stops at the first match was 9% of a GoogLeNet training step on an
/// Intel Xeon, most of it mispredicted branches: where the maximum sits is data. Vector passes
/// tap by tap over whole rows were slower still: GoogLeNet's rows are 3 to 24 outputs wide.)
pub fn max_pool_backward(g: &PoolGeometry, x: &[f32], output: &[f32], grad: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.oh_ow();
    assert_eq!(x.len(), g.planes * g.h * g.w, "input length");
    assert_eq!(output.len(), g.planes * oh * ow, "output length");
    assert_eq!(grad.len(), output.len(), "output gradient length");
    let mut grad_x = zeroed(x.len());
    let columns: Vec<std::ops::Range<usize>> = (0..ow).map(|ox| g.window(ox, g.w)).collect();
    grad_x
        .par_chunks_mut(g.h * g.w)
        .zip(x.par_chunks(g.h * g.w))
        .zip(output.par_chunks(oh * ow).zip(grad.par_chunks(oh * ow)))
        .for_each(|((gx_plane, plane), (out_plane, grad_plane))| {
            for oy in 0..oh {
                let rows = g.window(oy, g.h);
                let best = &out_plane[oy * ow..][..ow];
                let grad_row = &grad_plane[oy * ow..][..ow];
                for ((&b, &d), cols) in best.iter().zip(grad_row).zip(&columns) {
                    let mut at = rows.start * g.w + cols.start;
                    for y in rows.clone().rev() {
                        for c in cols.clone().rev() {
                            let i = y * g.w + c;
                            at = if plane[i] == b { i } else { at };
                        }
                    }
                    gx_plane[at] += d;
                }
            }
        });
    grad_x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each window's maximum and the first position (row-major) holding it, one window at a
    /// time.
    fn naive(g: &PoolGeometry, x: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (oh, ow) = g.oh_ow();
        let (mut out, mut gx) = (Vec::new(), vec![0.0; x.len()]);
        for p in 0..g.planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best: Option<(f32, usize)> = None;
                    for y in g.window(oy, g.h) {
                        for c in g.window(ox, g.w) {
                            let i = (p * g.h + y) * g.w + c;
                            if best.is_none_or(|(b, _)| x[i] > b) {
                                best = Some((x[i], i));
                            }
                        }
                    }
                    let (b, i) = best.unwrap();
                    out.push(b);
                    gx[i] += grad[out.len() - 1];
                }
            }
        }
        (out, gx)
    }

    #[test]
    fn ties_go_to_the_first_maximum_in_row_major_order() {
        for (h, w, kernel, stride, padding, ceil_mode) in [
            (6, 6, 3, 1, 1, false),
            (7, 5, 3, 2, 1, false),
            (13, 11, 3, 2, 0, true),
            (8, 8, 2, 2, 0, false),
            (3, 3, 3, 1, 1, false),
            (5, 9, 3, 2, 0, false),
        ] {
            let g = PoolGeometry {
                planes: 3,
                h,
                w,
                kernel,
                stride,
                padding,
                ceil_mode,
            };
            // Few distinct values, many of them zero (as after a ReLU): ties everywhere.
            let x: Vec<f32> = (0..3 * h * w)
                .map(|i| ((i * 7 + i / 5) % 4).saturating_sub(1) as f32)
                .collect();
            let (oh, ow) = g.oh_ow();
            let grad: Vec<f32> = (0..3 * oh * ow).map(|i| 1.0 + i as f32 * 0.25).collect();
            let (out, gx) = naive(&g, &x, &grad);
            let ours = max_pool(&g, &x);
            assert_eq!(ours, out, "{g:?}: output");
            assert_eq!(
                max_pool_backward(&g, &x, &ours, &grad),
                gx,
                "{g:?}: input gradient"
            );
        }
    }
}
