//! 2-d max pooling, forward and backward, on plain `f32` slices in NCHW layout.
//!
//! Why hand-written: flex's max pool (with the indices autodiff keeps) took about a fifth of
//! GoogLeNet's inference time for no arithmetic. Here the windows' rows are reduced first and
//! their columns after, each pass across whole rows (vectorized for the CPU at run time,
//! `simd`), groups of planes in parallel. In training the forward pass also keeps which tap of
//! each window holds its maximum (the first one in row-major order, PyTorch's and burn's choice
//! for ties), so the backward pass is one addition per output. Padding counts as minus
//! infinity, as in PyTorch. Unlike PyTorch, a NaN inside a window is not always carried to the
//! output (the comparisons skip it); a network whose activations hold NaN has diverged anyway,
//! and its loss shows it.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::buffers::{assume_written, fill, unwritten};
use super::simd::vectorized;
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
}

/// Input values per rayon task (planes are grouped up to about this size): 64 KiB.
const TASK_VALUES: usize = 1 << 14;

/// Input values a task pools at a time (whole planes, at least one): 16 KiB, so that the row
/// pass's results (as many again, twice with the taps) are still in L1 for the column pass.
/// With a whole task at once, GoogLeNet's 12x12 stride-1 pools took 30-40% longer.
const CHUNK_VALUES: usize = 1 << 12;

/// The maximum of every window, as `[n, c, oh, ow]` (inference: no taps kept).
pub fn max_pool(g: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.oh_ow();
    assert_eq!(x.len(), g.planes * g.h * g.w, "input length");
    let mut out = unwritten(g.planes * oh * ow);
    let axes = Axes::new(g);
    let per_task = planes_per_task(g);
    out.par_chunks_mut(oh * ow * per_task)
        .zip(x.par_chunks(g.h * g.w * per_task))
        .for_each(|(out, x)| {
            vectorized(
                #[inline(always)]
                || pool_planes::<false>(g, &axes, x, out, &mut []),
            );
        });
    // SAFETY: the tasks cover every plane, and `pool_planes` fills each plane it is given.
    unsafe { assume_written(out) }
}

/// The maximum of every window, and which tap of the window holds it (`ki * kernel + kj`, as
/// a float; the first one in row-major order when several do), both `[n, c, oh, ow]`: what
/// [`max_pool_backward`] routes the gradient with.
pub fn max_pool_with_taps(g: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (oh, ow) = g.oh_ow();
    assert_eq!(x.len(), g.planes * g.h * g.w, "input length");
    let mut out = unwritten(g.planes * oh * ow);
    let mut taps = unwritten(out.len());
    let axes = Axes::new(g);
    let per_task = planes_per_task(g);
    out.par_chunks_mut(oh * ow * per_task)
        .zip(taps.par_chunks_mut(oh * ow * per_task))
        .zip(x.par_chunks(g.h * g.w * per_task))
        .for_each(|((out, taps), x)| {
            vectorized(
                #[inline(always)]
                || pool_planes::<true>(g, &axes, x, out, taps),
            );
        });
    // SAFETY: the tasks cover every plane, and `pool_planes` fills each plane of both.
    unsafe { (assume_written(out), assume_written(taps)) }
}

/// Planes per rayon task: GoogLeNet's last pools have 3x3 planes, far too small for a task each.
fn planes_per_task(g: &PoolGeometry) -> usize {
    (TASK_VALUES / (g.h * g.w).max(1)).clamp(1, g.planes.max(1))
}

/// For one kernel offset `k` along an axis: the outputs `lo..hi` whose tap falls inside the
/// input, and the input index under output `lo` (output `o` reads `first + (o - lo) * stride`).
struct Tap {
    lo: usize,
    hi: usize,
    first: usize,
}

/// The taps along both axes, and whether the row pass can run over all of a task's planes at
/// once.
struct Axes {
    rows: Vec<Tap>,
    columns: Vec<Tap>,
    /// Input rows exactly `stride` times as long as the output's (`w == stride * ow`: stride 1
    /// with "same" padding, stride 2 over an even width with padding 1, as in GoogLeNet): then
    /// output `i` of the task's rows laid end to end reads input `i * stride + kj - padding`,
    /// except in the edge columns (`..inner.start`, `inner.end..`), where some taps would
    /// cross into the next or previous row. One long run per tap instead of one per row:
    /// GoogLeNet's 6x6 and 3x3 planes make rows of 3 to 6 outputs.
    flat_rows: bool,
    inner: std::ops::Range<usize>,
}

impl Axes {
    fn new(g: &PoolGeometry) -> Self {
        let (oh, ow) = g.oh_ow();
        let columns = taps_along(g, g.w, ow);
        let inner = columns.iter().map(|t| t.lo).max().unwrap_or(0)
            ..columns.iter().map(|t| t.hi).min().unwrap_or(0);
        Self {
            rows: taps_along(g, g.h, oh),
            columns,
            flat_rows: g.w == g.stride * ow,
            inner,
        }
    }
}

fn taps_along(g: &PoolGeometry, len: usize, out_len: usize) -> Vec<Tap> {
    (0..g.kernel)
        .map(|k| {
            // `o * stride + k >= padding` and `< len + padding`.
            let lo = g.padding.saturating_sub(k).div_ceil(g.stride).min(out_len);
            let hi = (len + g.padding)
                .saturating_sub(k)
                .div_ceil(g.stride)
                .clamp(lo, out_len);
            let first = (lo * g.stride + k).saturating_sub(g.padding);
            Tap { lo, hi, first }
        })
        .collect()
}

/// A run of whole planes `x` pooled into `out` (with `TAPS`, their taps kept in `taps` too).
///
/// Two passes, each a comparison across whole rows (or all the planes' rows end to end) per
/// kernel offset, never a loop over one window: first every input row's maximum under each
/// output column's window (`row_pass`), then the maximum of those over each output row's
/// window rows (`column_pass`). With a strict comparison in both, in increasing offset order,
/// a tie goes to the first row holding the maximum and to the first column in that row: the
/// first position in row-major order, PyTorch's and burn's choice.
#[inline(always)]
fn pool_planes<const TAPS: bool>(
    g: &PoolGeometry,
    axes: &Axes,
    x: &[f32],
    out: &mut [MaybeUninit<f32>],
    taps: &mut [MaybeUninit<f32>],
) {
    let (oh, ow) = g.oh_ow();
    // Planes a few at a time, so that the row pass's results stay in L1 for the column pass.
    let planes = (CHUNK_VALUES / (g.h * g.w)).max(1);
    // Each input row's maximum under each output column's window, and its column `kj`.
    let mut row_max = Vec::with_capacity(planes * g.h * ow);
    let mut row_kj = Vec::with_capacity(if TAPS { row_max.capacity() } else { 0 });
    let mut taps = taps.chunks_mut(planes * oh * ow);
    let chunks = x
        .chunks(planes * g.h * g.w)
        .zip(out.chunks_mut(planes * oh * ow));
    for (x, out) in chunks {
        let rows = x.len() / g.w;
        row_max.clear();
        row_max.resize(rows * ow, f32::NEG_INFINITY);
        if TAPS {
            row_kj.clear();
            row_kj.resize(rows * ow, f32::INFINITY);
        }
        row_pass::<TAPS>(g, axes, ow, x, &mut row_max, &mut row_kj);
        // Every output starts at -inf and every tap at +inf, no tap (what a window of NaN only
        // keeps).
        let out = fill(out, f32::NEG_INFINITY);
        let taps: &mut [f32] = match taps.next() {
            Some(taps) if TAPS => fill(taps, f32::INFINITY),
            _ => &mut [],
        };
        column_pass::<TAPS>(g, axes, ow, &row_max, &row_kj, out, taps);
    }
}

/// `best[i] = max(best[i], values[i * stride])` (stride `STRIDE`, or `stride` when `STRIDE` is
/// 0: a constant stride lets the compiler vectorize the strided reads), and with `TAPS`
/// `at[i] = tap + tap_add[i]` (or `tap` when `tap_add` is empty) where the value was larger;
/// no branch.
#[inline(always)]
fn keep_max<const TAPS: bool, const STRIDE: usize>(
    best: &mut [f32],
    at: &mut [f32],
    values: &[f32],
    stride: usize,
    (tap, tap_add): (f32, &[f32]),
) {
    let stride = if STRIDE == 0 { stride } else { STRIDE };
    let n = best.len();
    if n == 0 {
        return;
    }
    let values = &values[..(n - 1) * stride + 1];
    if TAPS {
        let at = &mut at[..n];
        // Two loops rather than one closure for both: the closure's captured slices kept the
        // compiler from vectorizing (GoogLeNet's pools took twice as long).
        if tap_add.is_empty() {
            for i in 0..n {
                let v = values[i * stride];
                let take = v > best[i];
                best[i] = if take { v } else { best[i] };
                at[i] = if take { tap } else { at[i] };
            }
        } else {
            let tap_add = &tap_add[..n];
            for i in 0..n {
                let v = values[i * stride];
                let take = v > best[i];
                best[i] = if take { v } else { best[i] };
                at[i] = if take { tap + tap_add[i] } else { at[i] };
            }
        }
    } else {
        for i in 0..n {
            let v = values[i * stride];
            // A comparison (not `f32::max`), so that it compiles to one `vmaxps`.
            best[i] = if v > best[i] { v } else { best[i] };
        }
    }
}

/// `keep_max` for a constant stride where it is 1 or 2 (every pool in the zoo).
#[inline(always)]
fn keep_max_strided<const TAPS: bool>(
    best: &mut [f32],
    at: &mut [f32],
    values: &[f32],
    stride: usize,
    tap: (f32, &[f32]),
) {
    match stride {
        1 => keep_max::<TAPS, 1>(best, at, values, 1, tap),
        2 => keep_max::<TAPS, 2>(best, at, values, 2, tap),
        s => keep_max::<TAPS, 0>(best, at, values, s, tap),
    }
}

/// `row_max[y][o]`: the maximum of input row `y` (of all the task's planes' rows, end to end)
/// under output column `o`'s window, and with `TAPS` in `row_kj` its offset `kj` in the
/// window. Both come filled with -inf and +inf.
#[inline(always)]
fn row_pass<const TAPS: bool>(
    g: &PoolGeometry,
    axes: &Axes,
    ow: usize,
    x: &[f32],
    row_max: &mut [f32],
    row_kj: &mut [f32],
) {
    let rows = x.len() / g.w;
    if axes.flat_rows {
        // All rows at once per offset; the edge columns are redone below.
        let n = row_max.len();
        for kj in 0..g.kernel {
            // Output `i` reads input `i * stride + kj - padding`, inside the task's values.
            let lo = g.padding.saturating_sub(kj).div_ceil(g.stride).min(n);
            let hi = (x.len() + g.padding)
                .saturating_sub(kj)
                .div_ceil(g.stride)
                .clamp(lo, n);
            if lo == hi {
                continue;
            }
            let values = &x[lo * g.stride + kj - g.padding..];
            let at: &mut [f32] = if TAPS { &mut row_kj[lo..hi] } else { &mut [] };
            let best = &mut row_max[lo..hi];
            keep_max_strided::<TAPS>(best, at, values, g.stride, (kj as f32, &[]));
        }
        let edges = (0..axes.inner.start).chain(axes.inner.end..ow);
        for o in edges {
            for y in 0..rows {
                let (mut best, mut at) = (f32::NEG_INFINITY, f32::INFINITY);
                for (kj, tap) in axes.columns.iter().enumerate() {
                    if (tap.lo..tap.hi).contains(&o) {
                        let v = x[y * g.w + tap.first + (o - tap.lo) * g.stride];
                        if v > best {
                            (best, at) = (v, kj as f32);
                        }
                    }
                }
                row_max[y * ow + o] = best;
                if TAPS {
                    row_kj[y * ow + o] = at;
                }
            }
        }
        return;
    }
    for y in 0..rows {
        let input = &x[y * g.w..][..g.w];
        for (kj, tap) in axes.columns.iter().enumerate().filter(|(_, t)| t.lo < t.hi) {
            let outputs = y * ow + tap.lo..y * ow + tap.hi;
            let best = &mut row_max[outputs.clone()];
            let at: &mut [f32] = if TAPS { &mut row_kj[outputs] } else { &mut [] };
            let input = &input[tap.first..];
            keep_max_strided::<TAPS>(best, at, input, g.stride, (kj as f32, &[]));
        }
    }
}

/// The output: the maximum of `row_max` over each output row's window rows, and with `TAPS`
/// the tap `ki * kernel + kj` holding it. `out` comes filled with -inf, `taps` with +inf.
#[inline(always)]
fn column_pass<const TAPS: bool>(
    g: &PoolGeometry,
    axes: &Axes,
    ow: usize,
    row_max: &[f32],
    row_kj: &[f32],
    out: &mut [f32],
    taps: &mut [f32],
) {
    let kernel = g.kernel as f32;
    let (oh, _) = g.oh_ow();
    let planes = out.len() / (oh * ow);
    for p in 0..planes {
        // This plane's part of a buffer (of none when `TAPS` is off and the buffer empty).
        let plane = |len: usize| p * len / planes..(p + 1) * len / planes;
        let (row_max, row_kj) = (&row_max[plane(row_max.len())], &row_kj[plane(row_kj.len())]);
        let (out_len, taps_len) = (out.len(), taps.len());
        let (out, taps) = (&mut out[plane(out_len)], &mut taps[plane(taps_len)]);
        for (ki, tap) in axes.rows.iter().enumerate().filter(|(_, t)| t.lo < t.hi) {
            let row_tap = ki as f32 * kernel;
            // Stride 1: consecutive output rows read consecutive input rows, one run in all.
            let (runs, run_len) = if g.stride == 1 {
                (1, (tap.hi - tap.lo) * ow)
            } else {
                (tap.hi - tap.lo, ow)
            };
            for r in 0..runs {
                let o = tap.lo * ow + r * run_len;
                let y = tap.first + r * g.stride;
                let values = &row_max[y * ow..][..run_len];
                let best = &mut out[o..][..run_len];
                if TAPS {
                    let kj = &row_kj[y * ow..][..run_len];
                    let at = &mut taps[o..][..run_len];
                    keep_max::<TAPS, 1>(best, at, values, 1, (row_tap, kj));
                } else {
                    keep_max::<TAPS, 1>(best, &mut [], values, 1, (0.0, &[]));
                }
            }
        }
    }
}

/// The input gradient: each window's output gradient goes to the input position of the tap
/// [`max_pool_with_taps`] chose (one addition per output, where finding the maximum again
/// took a comparison per tap). A window of NaN only has no tap and passes no gradient.
pub fn max_pool_backward(g: &PoolGeometry, taps: &[f32], grad: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.oh_ow();
    assert_eq!(taps.len(), g.planes * oh * ow, "taps length");
    assert_eq!(grad.len(), taps.len(), "output gradient length");
    // Zeroed task by task right before the task adds into it, while its planes are in cache:
    // `zeroed` first was one more pass over the whole gradient in memory.
    let mut grad_x = unwritten(g.planes * g.h * g.w);
    let taps_in_window = g.kernel * g.kernel;
    // Where tap `t` lies from its window's top-left corner, in the flattened plane.
    let offsets: Vec<isize> = (0..taps_in_window)
        .map(|t| ((t / g.kernel) * g.w + t % g.kernel) as isize)
        .collect();
    let (w, stride, padding) = (g.w as isize, g.stride as isize, g.padding as isize);
    let per_task = planes_per_task(g);
    grad_x
        .par_chunks_mut(g.h * g.w * per_task)
        .zip(taps.par_chunks(oh * ow * per_task))
        .zip(grad.par_chunks(oh * ow * per_task))
        .for_each(|((grad_x, taps), grad)| {
            let grad_x = fill(grad_x, 0.0);
            let planes = grad_x
                .chunks_exact_mut(g.h * g.w)
                .zip(taps.chunks_exact(oh * ow))
                .zip(grad.chunks_exact(oh * ow));
            for ((gx, taps), grad) in planes {
                let rows = taps.chunks_exact(ow).zip(grad.chunks_exact(ow));
                for (oy, (taps, grad)) in rows.enumerate() {
                    let row_corner = (oy as isize * stride - padding) * w - padding;
                    for (ox, (&tap, &d)) in taps.iter().zip(grad).enumerate() {
                        // NaN and infinity (no tap) fail this test.
                        if !(tap >= 0.0 && tap < taps_in_window as f32) {
                            continue;
                        }
                        let corner = row_corner + ox as isize * stride;
                        gx[(corner + offsets[tap as usize]) as usize] += d;
                    }
                }
            }
        });
    // SAFETY: the tasks cover every plane, and each task filled its planes with zeros first.
    unsafe { assume_written(grad_x) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input rows (or columns) under output position `o`, clipped to the input.
    fn window(g: &PoolGeometry, o: usize, len: usize) -> std::ops::Range<usize> {
        let start = (o * g.stride).saturating_sub(g.padding);
        let end = (o * g.stride + g.kernel).saturating_sub(g.padding).min(len);
        start..end.max(start)
    }

    /// Each window's maximum and the first position (row-major) holding it, one window at a
    /// time.
    fn naive(g: &PoolGeometry, x: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (oh, ow) = g.oh_ow();
        let (mut out, mut gx) = (Vec::new(), vec![0.0; x.len()]);
        for p in 0..g.planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best: Option<(f32, usize)> = None;
                    for y in window(g, oy, g.h) {
                        for c in window(g, ox, g.w) {
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
        for ((h, w, kernel, stride, padding, ceil_mode), planes) in [
            (6, 6, 3, 1, 1, false),
            (7, 5, 3, 2, 1, false),
            (13, 11, 3, 2, 0, true),
            (8, 8, 2, 2, 0, false),
            (3, 3, 3, 1, 1, false),
            (5, 9, 3, 2, 0, false),
            (12, 12, 3, 1, 1, false),
            (5, 7, 5, 1, 2, false),
            (6, 6, 3, 1, 0, false),
            (4, 5, 2, 1, 0, false),
            (1, 1, 3, 1, 1, false),
            // Rows of all planes end to end (`w == stride * ow`) at stride 2.
            (6, 6, 3, 2, 1, false),
            (12, 12, 3, 2, 1, false),
            (4, 6, 3, 2, 1, false),
            (2, 2, 3, 2, 1, false),
            (7, 8, 3, 2, 1, true),
        ]
        .into_iter()
        // One task, and (700 planes) several tasks of many planes each.
        .flat_map(|geometry| [(geometry, 3), (geometry, 700)])
        {
            let g = PoolGeometry {
                planes,
                h,
                w,
                kernel,
                stride,
                padding,
                ceil_mode,
            };
            // Few distinct values, many of them zero (as after a ReLU): ties everywhere.
            let x: Vec<f32> = (0..planes * h * w)
                .map(|i| ((i * 7 + i / 5) % 4).saturating_sub(1) as f32)
                .collect();
            let (oh, ow) = g.oh_ow();
            let grad: Vec<f32> = (0..planes * oh * ow)
                .map(|i| 1.0 + i as f32 * 0.25)
                .collect();
            let (out, gx) = naive(&g, &x, &grad);
            assert_eq!(max_pool(&g, &x), out, "{g:?}: output");
            let (ours, taps) = max_pool_with_taps(&g, &x);
            assert_eq!(ours, out, "{g:?}: output with taps");
            assert_eq!(
                max_pool_backward(&g, &taps, &grad),
                gx,
                "{g:?}: input gradient"
            );
        }
    }
}
