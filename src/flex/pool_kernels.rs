//! 2-d max pooling, forward and backward, on plain `f32` slices in NCHW layout.
//!
//! Why hand-written: flex's max pool (with the indices autodiff keeps) took about a fifth of
//! GoogLeNet's inference time for no arithmetic. Here each plane is set in a frame of minus
//! infinity (its padding), then the windows' rows are reduced first and their columns after,
//! each pass one loop over a whole chunk of planes (vectorized for the CPU at run time,
//! `simd`), groups of planes in parallel. In training the forward pass also keeps which tap of
//! each window holds its maximum (the first one in row-major order, PyTorch's and burn's choice
//! for ties), so the backward pass compares no values: at stride 1 it runs in the same frames,
//! one loop per tap over a chunk of planes; at larger strides it is one addition per output.
//! Padding counts as minus infinity, as in PyTorch. Unlike PyTorch, a NaN inside a window is
//! not always carried to the output (the comparisons skip it); a network whose activations
//! hold NaN has diverged anyway, and its loss shows it.

use std::mem::MaybeUninit;
use std::ops::Range;

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

/// Framed values a task pools at a time (whole planes, at least one): 8 KiB, so that the
/// frame, the row pass's results and (with taps) their offsets stay in L1 between the passes.
const CHUNK_VALUES: usize = 1 << 11;

/// The maximum of every window, as `[n, c, oh, ow]` (inference: no taps kept).
pub fn max_pool(g: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.oh_ow();
    assert_eq!(x.len(), g.planes * g.h * g.w, "input length");
    let mut out = unwritten(g.planes * oh * ow);
    let frame = Frame::new(g);
    let per_task = planes_per_task(g);
    out.par_chunks_mut(oh * ow * per_task)
        .zip(x.par_chunks(g.h * g.w * per_task))
        .for_each(|(out, x)| {
            vectorized(
                #[inline(always)]
                || pool_planes::<false>(g, &frame, x, out, &mut []),
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
    let frame = Frame::new(g);
    let per_task = planes_per_task(g);
    out.par_chunks_mut(oh * ow * per_task)
        .zip(taps.par_chunks_mut(oh * ow * per_task))
        .zip(x.par_chunks(g.h * g.w * per_task))
        .for_each(|((out, taps), x)| {
            vectorized(
                #[inline(always)]
                || pool_planes::<true>(g, &frame, x, out, taps),
            );
        });
    // SAFETY: the tasks cover every plane, and `pool_planes` fills each plane of both.
    unsafe { (assume_written(out), assume_written(taps)) }
}

/// Planes per rayon task: GoogLeNet's last pools have 3x3 planes, far too small for a task each.
pub(super) fn planes_per_task(g: &PoolGeometry) -> usize {
    (TASK_VALUES / (g.h * g.w).max(1)).clamp(1, g.planes.max(1))
}

/// How the pooling lays out a plane: inside a frame of minus infinity (its padding, and past
/// it what the last window of a `ceil_mode` pool reaches), so that every tap of every window
/// is a plain read and no pass needs to know where a plane's edges are. The frames of a chunk's
/// planes lie end to end.
#[derive(Clone, Copy)]
struct Frame {
    /// Rows.
    hp: usize,
    /// Row length: at least the padded width, rounded up to a multiple of the stride.
    wp: usize,
    /// `wp / stride`: the row pass's outputs per frame row.
    rw: usize,
    /// The frame is the plane itself (no padding, and the windows and the stride fit the
    /// plane exactly, as in VGG's 2x2 and NiN's 3x3 pools): the passes read the input.
    is_plane: bool,
}

impl Frame {
    /// Where row `y` of plane `p` (of a chunk's planes) starts inside the frames: the
    /// framing copy writes it there and the backward pass reads its gradient back from there.
    #[inline(always)]
    fn input_row(&self, g: &PoolGeometry, p: usize, y: usize) -> usize {
        (p * self.hp + g.padding + y) * self.wp + g.padding
    }

    fn new(g: &PoolGeometry) -> Self {
        let (oh, ow) = g.oh_ow();
        // Up to the last window's last tap, which `ceil_mode` may place past the padding.
        let side =
            |len: usize, out: usize| (len + 2 * g.padding).max((out - 1) * g.stride + g.kernel);
        let (hp, wp) = (side(g.h, oh), side(g.w, ow).next_multiple_of(g.stride));
        Self {
            hp,
            wp,
            rw: wp / g.stride,
            is_plane: g.padding == 0 && (hp, wp) == (g.h, g.w),
        }
    }
}

/// Output rows at least this long are reduced one by one by the column pass at strides above
/// 1; shorter ones in one run over every row (see `pool_planes`).
const LONG_ROW: usize = 16;

/// A run of whole planes `x` pooled into `out` (with `TAPS`, their taps kept in `taps` too), a
/// chunk of planes at a time, in four passes, each one loop over the whole chunk:
///
/// 1. each plane copied into its frame (`Frame`), unless the plane is its own frame;
/// 2. the row pass: every frame row's maximum under each output column's window, the frames'
///    rows end to end (`row_max[i] = max over kj of framed[stride * i + kj]`: row `r`'s output
///    column `o` is `row_max[r * rw + o]`);
/// 3. the column pass: `col_max[j] = max over ki of row_max[j + ki * rw]` for every `j` at
///    stride 1 (or at strides above 1 with short rows), else only for the frame rows
///    `stride * oy` that hold output row `oy`;
/// 4. those rows' first `ow` values copied out.
///
/// Rows and columns a pass computes that no output uses (a frame's last columns and rows, and
/// the rows between the stride's with short rows) cost little next to what they save: no loop
/// over one window, no case for a plane's edges, and GoogLeNet's 6x6 and 3x3 planes (rows of 3
/// to 6 outputs) pooled in runs as long as the chunk, which made its stride-1 pools 1.4x to
/// 2.9x faster than row by row with the edge columns apart (`bench --profile-depth 2`, batch
/// 128, 2-core Intel Xeon with AVX-512). With a strict comparison in both passes, in
/// increasing offset order, a tie goes to the first row holding the maximum and to the first
/// column in that row: the first position in row-major order, PyTorch's and burn's choice.
#[inline(always)]
fn pool_planes<const TAPS: bool>(
    g: &PoolGeometry,
    frame: &Frame,
    x: &[f32],
    out: &mut [MaybeUninit<f32>],
    taps: &mut [MaybeUninit<f32>],
) {
    let (oh, ow) = g.oh_ow();
    let (stride, kernel) = (g.stride, g.kernel);
    let Frame { hp, wp, rw, .. } = *frame;
    let planes = (CHUNK_VALUES / (hp * wp)).max(1);
    let mut framed = Vec::new();
    let (mut row_max, mut row_kj) = (Vec::new(), Vec::new());
    let (mut col_max, mut col_kj) = (Vec::new(), Vec::new());
    let mut taps = taps.chunks_mut(planes * oh * ow);
    let chunks = x
        .chunks(planes * g.h * g.w)
        .zip(out.chunks_mut(planes * oh * ow));
    for (x, out) in chunks {
        let n = x.len() / (g.h * g.w);
        // 1. The frames.
        let source = if frame.is_plane {
            x
        } else {
            framed.clear();
            framed.resize(n * hp * wp, f32::NEG_INFINITY);
            for (p, plane) in x.chunks_exact(g.h * g.w).enumerate() {
                for (y, row) in plane.chunks_exact(g.w).enumerate() {
                    let at = frame.input_row(g, p, y);
                    copy_row(&mut framed[at..at + g.w], row);
                }
            }
            &framed[..]
        };
        // 2. The row pass, from minus infinity and no tap (what a window of NaN only keeps).
        // The last frame's last columns, which no output reads, take only the taps inside it.
        let len = n * hp * rw;
        refill(&mut row_max, len, f32::NEG_INFINITY);
        if TAPS {
            refill(&mut row_kj, len, f32::INFINITY);
        }
        for kj in 0..kernel {
            let inside = (source.len() - kj).div_ceil(stride).min(len);
            let at: &mut [f32] = if TAPS { &mut row_kj[..inside] } else { &mut [] };
            let tap = (kj as f32, &[][..]);
            keep_max_strided::<TAPS>(&mut row_max[..inside], at, &source[kj..], stride, tap);
        }
        // 3. and 4. The column pass and the outputs.
        let out_taps = taps.next().filter(|_| TAPS);
        if stride == 1 || ow < LONG_ROW {
            let rows = (n * hp + 1 - kernel) * rw;
            refill(&mut col_max, rows, f32::NEG_INFINITY);
            if TAPS {
                refill(&mut col_kj, rows, f32::INFINITY);
            }
            let all = [(0..rows, 0..rows)].into_iter();
            column_pass::<TAPS>(
                kernel,
                rw,
                &row_max,
                &row_kj,
                &mut col_max,
                &mut col_kj,
                all,
            );
            copy_out(frame_rows(n, frame, stride, oh), ow, &col_max, out);
            if let Some(taps) = out_taps {
                copy_out(frame_rows(n, frame, stride, oh), ow, &col_kj, taps);
            }
        } else {
            // Long rows at a stride above 1: only the rows an output reads, straight into it.
            let out = fill(out, f32::NEG_INFINITY);
            let taps: &mut [f32] = match out_taps {
                Some(taps) => fill(taps, f32::INFINITY),
                None => &mut [],
            };
            let rows = frame_rows(n, frame, stride, oh)
                .enumerate()
                .map(|(r, at)| (r * ow..(r + 1) * ow, at..at + ow));
            column_pass::<TAPS>(kernel, rw, &row_max, &row_kj, out, taps, rows);
        }
    }
}

/// `best[to] = max over ki of row_max[from + ki * rw]` for each pair of ranges `(to, from)` of
/// `rows` (with `TAPS` `at[to]` the tap `ki * kernel + row_kj[...]` holding it): the column pass
/// of `pool_planes`.
#[inline(always)]
fn column_pass<const TAPS: bool>(
    kernel: usize,
    rw: usize,
    row_max: &[f32],
    row_kj: &[f32],
    best: &mut [f32],
    at: &mut [f32],
    rows: impl Iterator<Item = (Range<usize>, Range<usize>)>,
) {
    for (to, from) in rows {
        for ki in 0..kernel {
            let values = &row_max[from.start + ki * rw..];
            let best = &mut best[to.clone()];
            if TAPS {
                let kj = &row_kj[from.start + ki * rw..][..from.len()];
                let row_tap = (ki * kernel) as f32;
                keep_max::<TAPS, 1>(best, &mut at[to.clone()], values, 1, (row_tap, kj));
            } else {
                keep_max::<TAPS, 1>(best, &mut [], values, 1, (0.0, &[]));
            }
        }
    }
}

/// `values` made `len` copies of `value`, keeping its allocation.
#[inline(always)]
fn refill(values: &mut Vec<f32>, len: usize, value: f32) {
    values.clear();
    values.resize(len, value);
}

/// Where each output row of a chunk's `n` planes starts in the column pass's results.
#[inline(always)]
fn frame_rows(n: usize, frame: &Frame, stride: usize, oh: usize) -> impl Iterator<Item = usize> {
    let Frame { hp, rw, .. } = *frame;
    (0..n).flat_map(move |p| (0..oh).map(move |oy| (p * hp + stride * oy) * rw))
}

/// The first `ow` values of each row starting at `rows` in `from`, one after another into `to`.
#[inline(always)]
fn copy_out(
    rows: impl Iterator<Item = usize>,
    ow: usize,
    from: &[f32],
    to: &mut [MaybeUninit<f32>],
) {
    // SAFETY: `MaybeUninit<f32>` has `f32`'s layout, and an initialized value is a valid one.
    let from: &[MaybeUninit<f32>] = unsafe { std::mem::transmute(from) };
    for (start, to) in rows.zip(to.chunks_exact_mut(ow)) {
        copy_row(to, &from[start..start + ow]);
    }
}

/// `to.copy_from_slice(from)`, without a call to `memcpy` for rows shorter than 16 values (the
/// 3 to 12 of GoogLeNet's last pools, where the calls took a fifth of the pooling time): two
/// fixed-size copies that overlap in the middle.
#[inline(always)]
fn copy_row<T: Copy>(to: &mut [T], from: &[T]) {
    let n = from.len();
    assert_eq!(to.len(), n, "row lengths");
    macro_rules! two_copies {
        ($width:literal) => {{
            to[..$width].copy_from_slice(&from[..$width]);
            to[n - $width..].copy_from_slice(&from[n - $width..]);
        }};
    }
    match n {
        0 => {}
        1 => to[0] = from[0],
        2..4 => two_copies!(2),
        4..8 => two_copies!(4),
        8..16 => two_copies!(8),
        _ => to.copy_from_slice(from),
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

/// The input gradient: each window's output gradient goes to the input position of the tap
/// [`max_pool_with_taps`] chose (no comparison of values again). A window of NaN only has no
/// tap and passes no gradient. At stride 1 in frames (`unpool_planes`); at larger strides one
/// addition per output (`scatter_planes`).
pub fn max_pool_backward(g: &PoolGeometry, taps: &[f32], grad: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.oh_ow();
    assert_eq!(taps.len(), g.planes * oh * ow, "taps length");
    assert_eq!(grad.len(), taps.len(), "output gradient length");
    let mut grad_x = unwritten(g.planes * g.h * g.w);
    let frame = Frame::new(g);
    let per_task = planes_per_task(g);
    grad_x
        .par_chunks_mut(g.h * g.w * per_task)
        .zip(taps.par_chunks(oh * ow * per_task))
        .zip(grad.par_chunks(oh * ow * per_task))
        .for_each(|((grad_x, taps), grad)| {
            if g.stride == 1 {
                vectorized(
                    #[inline(always)]
                    || unpool_planes(g, &frame, taps, grad, grad_x),
                );
            } else {
                scatter_planes(g, taps, grad, grad_x);
            }
        });
    // SAFETY: the tasks cover every plane, and both ways fill each plane they are given.
    unsafe { assume_written(grad_x) }
}

/// The backward pass of `pool_planes` at stride 1, a chunk of planes at a time, in the same
/// frames: the output gradient and the taps are set at each window's corner (zero
/// elsewhere); then, for each tap `t` of the window, one loop over the whole chunk adds the
/// gradient of every window whose maximum is at `t` onto the position `t` reaches from the
/// corner; last, each plane is copied out of its frame.
///
/// The taps go from last to first, so that each input position receives its windows'
/// gradients in the order of the windows (row-major), as one addition per window in that
/// order does (`scatter_planes`): the same sums, bit for bit. (An addition of zero, where a
/// window's maximum is elsewhere, changes no sum: the frames start at +0 and never hold -0.)
///
/// At stride 1, where the windows overlap most, this took a third of the time of one
/// addition per output, whose additions to the same positions wait for each other: GoogLeNet
/// d2l's nine stride-1 pools at batch 128, 5.2-29.1 ms -> 2.6-8.1 ms each, 131 -> 40 ms in
/// all (a scratch timing beside this kernel, medians of 9 alternating calls, 2-core Intel Xeon
/// with AVX-512). At stride 2 the corners are a quarter of the frame; held apart (the frame's
/// rows, or rows and columns, split by the stride, so that the loops cover only corners) it
/// was no faster than one addition per output on GoogLeNet's 48x48 and 24x24 planes and slower
/// on its 12x12 and 6x6 ones (8.5 against 5.4 ms): at stride 2 both move about as many bytes
/// as memory gives.
#[inline(always)]
fn unpool_planes(
    g: &PoolGeometry,
    frame: &Frame,
    taps: &[f32],
    grad: &[f32],
    grad_x: &mut [MaybeUninit<f32>],
) {
    let (oh, ow) = g.oh_ow();
    let kernel = g.kernel;
    let Frame { hp, wp, .. } = *frame;
    let planes = (CHUNK_VALUES / (hp * wp)).max(1);
    let (mut corner_grad, mut corner_taps, mut framed) = (Vec::new(), Vec::new(), Vec::new());
    // The farthest position from a window's corner that a tap reaches.
    let reach = (kernel - 1) * wp + kernel - 1;
    let chunks = taps
        .chunks(planes * oh * ow)
        .zip(grad.chunks(planes * oh * ow))
        .zip(grad_x.chunks_mut(planes * g.h * g.w));
    for ((taps, grad), grad_x) in chunks {
        let n = taps.len() / (oh * ow);
        let len = n * hp * wp;
        refill(&mut corner_grad, len, 0.0);
        refill(&mut corner_taps, len, f32::INFINITY);
        let rows = taps.chunks_exact(ow).zip(grad.chunks_exact(ow));
        for ((taps, grad), at) in rows.zip(frame_rows(n, frame, 1, oh)) {
            copy_row(&mut corner_taps[at..at + ow], taps);
            copy_row(&mut corner_grad[at..at + ow], grad);
        }
        refill(&mut framed, len, 0.0);
        // Every corner lies before `len - reach`: a window fits inside its frame.
        let corners = len - reach;
        for t in (0..kernel * kernel).rev() {
            let at = t / kernel * wp + t % kernel;
            let to = &mut framed[at..at + corners];
            add_where(
                to,
                &corner_taps[..corners],
                &corner_grad[..corners],
                t as f32,
            );
        }
        // SAFETY: `MaybeUninit<f32>` has `f32`'s layout; a value is a valid one.
        let framed: &[MaybeUninit<f32>] = unsafe { std::mem::transmute(&framed[..]) };
        for (p, plane) in grad_x.chunks_exact_mut(g.h * g.w).enumerate() {
            for (y, row) in plane.chunks_exact_mut(g.w).enumerate() {
                let at = frame.input_row(g, p, y);
                copy_row(row, &framed[at..at + g.w]);
            }
        }
    }
}

/// `to[i] += grad[i]` where `taps[i] == tap` (no branch).
#[inline(always)]
fn add_where(to: &mut [f32], taps: &[f32], grad: &[f32], tap: f32) {
    let n = to.len();
    let (taps, grad) = (&taps[..n], &grad[..n]);
    for i in 0..n {
        to[i] += if taps[i] == tap { grad[i] } else { 0.0 };
    }
}

/// The input gradient of a task's planes, one addition per output, in the order of the
/// outputs; the planes zeroed right before, while they are in cache.
fn scatter_planes(g: &PoolGeometry, taps: &[f32], grad: &[f32], grad_x: &mut [MaybeUninit<f32>]) {
    let (oh, ow) = g.oh_ow();
    let taps_in_window = g.kernel * g.kernel;
    // Where tap `t` lies from its window's top-left corner, in the flattened plane.
    let offsets: Vec<isize> = (0..taps_in_window)
        .map(|t| ((t / g.kernel) * g.w + t % g.kernel) as isize)
        .collect();
    let (w, stride, padding) = (g.w as isize, g.stride as isize, g.padding as isize);
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
            // Output rows of 16 and more at stride 2: the column pass row by row, straight
            // into the output (`LONG_ROW`), framed or not.
            (40, 36, 3, 2, 1, false),
            (35, 37, 3, 2, 0, true),
            (32, 34, 2, 2, 0, false),
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

    #[test]
    fn a_window_of_nan_only_passes_no_gradient() {
        for stride in [1, 2] {
            let g = PoolGeometry {
                planes: 3,
                h: 6,
                w: 6,
                kernel: 3,
                stride,
                padding: 1,
                ceil_mode: false,
            };
            let (out, taps) = max_pool_with_taps(&g, &vec![f32::NAN; 3 * 36]);
            assert!(
                out.iter().all(|&v| v == f32::NEG_INFINITY),
                "stride {stride}"
            );
            let grad = vec![1.0; out.len()];
            let gx = max_pool_backward(&g, &taps, &grad);
            assert!(gx.iter().all(|&v| v == 0.0), "stride {stride}: {gx:?}");
        }
    }
}
