//! The patches of a convolution: im2col, the matrix whose row `(c, ki, kj)` holds, for every
//! output position, the input value under kernel tap `(ki, kj)` of input channel `c` (zero in
//! the padding), which turns a convolution into one GEMM; and its transpose, col2im, which adds
//! such rows back onto the input's gradient.
//!
//! Two ways to copy a row. On planes of up to `MASKED_MAX_PLANE` values, a "same" stride-1
//! convolution (every one of GoogLeNet's, AlexNet's and VGG's after the first layer) copies each
//! row as one loop over the plane, masking out the padding (`MaskedTaps`); larger planes and
//! other convolutions copy the valid rows of each tap as one shifted block, or row by row.
//!
//! Why hand-written: the convolution kernels (`conv_kernels`) keep NCHW, lay several images
//! side by side in one matrix and need the transpose for the backward pass; burn's flex backend
//! offers no im2col as an operation of its own to call.

use std::ops::Range;

use super::conv_geometry::ConvGeometry;
use super::simd::vectorized;

/// How one convolution's patches are copied.
pub(super) struct Patches {
    g: ConvGeometry,
    masked: Option<MaskedTaps>,
}

impl Patches {
    pub(super) fn new(g: &ConvGeometry) -> Self {
        Self {
            g: *g,
            masked: MaskedTaps::new(g),
        }
    }

    /// The im2col rows of input channels `channels` of `image` (one whole image): row
    /// `(c, ki, kj)` at `col[r * row_stride..]`, `r` counted from the first channel given.
    pub(super) fn im2col(
        &self,
        image: &[f32],
        channels: Range<usize>,
        col: &mut [f32],
        row_stride: usize,
    ) {
        let g = &self.g;
        match &self.masked {
            Some(masked) => vectorized(
                #[inline(always)]
                || masked.im2col(g, image, channels.clone(), col, row_stride),
            ),
            None => {
                let plane = g.h * g.w;
                let x = &image[channels.start * plane..channels.end * plane];
                im2col(g, x, col, row_stride);
            }
        }
    }

    /// The transpose of `im2col`: adds every value of the rows of `col` (rows `row_stride`
    /// apart) back onto the input position it came from in `x`, the gradient of as many whole
    /// input channels as `col` has rows for. `col` is scratch: its padding values may be
    /// zeroed.
    pub(super) fn col2im_add(&self, col: &mut [f32], row_stride: usize, x: &mut [f32]) {
        let g = &self.g;
        vectorized(
            #[inline(always)]
            || match &self.masked {
                Some(masked) => masked.col2im_add(g, col, row_stride, x),
                None => col2im_add(g, col, row_stride, x),
            },
        )
    }
}

/// Planes of at most this many values take `MaskedTaps` in "same" stride-1 convolutions.
/// Measured on a 2-core Intel Xeon with AVX-512 (one thread, 128 images, medians of 7, against
/// the shifted blocks): 6x6 planes 3.1x faster (96 channels, 3x3 kernel: 4.3 against 1.4 ms),
/// 12x12 2.3x, 3x3 2.5-2.8x, 24x24 1.2x, 32x32 1.1x, but 48x48 0.9x and 64x64 0.8x (there the
/// masks are as much to read as the input).
const MASKED_MAX_PLANE: usize = 1024;

/// The kernel taps of a "same" stride-1 convolution on a small plane: output position `d` of
/// tap `t` reads input position `d + shifts[t]` of the flattened plane, kept where
/// `masks[t][d]` is all ones and zeroed where it is zero (the tap reads the padding there: a
/// row above or below the plane, or a column that wrapped around a row's edge). A row is then
/// one loop over the plane, which reads the neighbouring channels' values and masks them out.
///
/// Why: on GoogLeNet's 6x6 and 3x3 planes a tap's row is 36 or 9 values, and the shifted
/// block's fixed costs per row (the valid range's divisions, four fills, a `memmove` call, the
/// zeroed columns) took longer than the copying.
struct MaskedTaps {
    plane: usize,
    shifts: Vec<isize>,
    /// `k² x plane` masks, tap by tap.
    masks: Vec<u32>,
}

impl MaskedTaps {
    fn new(g: &ConvGeometry) -> Option<Self> {
        let (h, w, k) = (g.h, g.w, g.kernel);
        if !is_same(g) || h * w > MASKED_MAX_PLANE {
            return None;
        }
        let mut shifts = Vec::with_capacity(k * k);
        let mut masks = Vec::with_capacity(k * k * h * w);
        for t in 0..k * k {
            shifts.push(shift(g, t / k, t % k));
            let ((oy_lo, oy_hi), (ox_lo, ox_hi)) = valid_tap(g, t);
            for oy in 0..h {
                for ox in 0..w {
                    let inside = (oy_lo..oy_hi).contains(&oy) && (ox_lo..ox_hi).contains(&ox);
                    masks.push(if inside { u32::MAX } else { 0 });
                }
            }
        }
        Some(Self {
            plane: h * w,
            shifts,
            masks,
        })
    }

    /// Where tap `t`'s shifted plane for channel `c` starts in a slice of `len` values that
    /// holds the channel at `c * plane`: `None` where it would leave the slice (the padding
    /// of the slice's first or last channel), which then takes the shifted block.
    #[inline(always)]
    fn start(&self, c: usize, t: usize, len: usize) -> Option<usize> {
        let start = (c * self.plane) as isize + self.shifts[t];
        (start >= 0 && start as usize + self.plane <= len).then_some(start as usize)
    }

    #[inline(always)]
    fn mask(&self, t: usize) -> &[u32] {
        &self.masks[t * self.plane..][..self.plane]
    }

    #[inline(always)]
    fn im2col(
        &self,
        g: &ConvGeometry,
        image: &[f32],
        channels: Range<usize>,
        col: &mut [f32],
        row_stride: usize,
    ) {
        let plane = self.plane;
        let mut r = 0;
        for c in channels {
            for t in 0..self.shifts.len() {
                let row = &mut col[r * row_stride..][..plane];
                r += 1;
                let Some(start) = self.start(c, t, image.len()) else {
                    let channel = &image[c * plane..][..plane];
                    let (rows, columns) = valid_tap(g, t);
                    shifted_plane(row, channel, g.w, self.shifts[t], rows, columns);
                    continue;
                };
                let src = &image[start..][..plane];
                for ((d, &s), &m) in row.iter_mut().zip(src).zip(self.mask(t)) {
                    *d = f32::from_bits(s.to_bits() & m);
                }
            }
        }
    }

    /// Adds a masked row onto the plane it came from, the neighbouring values it spans too
    /// (plus zero: a gradient of -0 there becomes +0).
    #[inline(always)]
    fn col2im_add(&self, g: &ConvGeometry, col: &mut [f32], row_stride: usize, x: &mut [f32]) {
        let plane = self.plane;
        let mut r = 0;
        for c in 0..x.len() / plane {
            for t in 0..self.shifts.len() {
                let row = &mut col[r * row_stride..][..plane];
                r += 1;
                let Some(start) = self.start(c, t, x.len()) else {
                    let channel = &mut x[c * plane..][..plane];
                    let (rows, columns) = valid_tap(g, t);
                    add_shifted_plane(channel, row, g.w, self.shifts[t], rows, columns);
                    continue;
                };
                let dst = &mut x[start..][..plane];
                for ((d, &v), &m) in dst.iter_mut().zip(row.iter()).zip(self.mask(t)) {
                    *d += f32::from_bits(v.to_bits() & m);
                }
            }
        }
    }
}

/// In a "same" stride-1 convolution, input position `d + shift` of the flattened plane is what
/// output position `d` reads under kernel tap `(ki, kj)`.
#[inline(always)]
fn shift(g: &ConvGeometry, ki: usize, kj: usize) -> isize {
    let p = g.padding;
    (ki * g.w + kj) as isize - (p * g.w + p) as isize
}

/// The output rows and columns that tap `t` (row-major over the kernel) of a stride-1
/// convolution reads inside the input.
#[inline(always)]
fn valid_tap(g: &ConvGeometry, t: usize) -> ((usize, usize), (usize, usize)) {
    let (oh, ow) = g.oh_ow();
    let (ki, kj) = (t / g.kernel, t % g.kernel);
    (
        valid_outputs(oh, g.h, 1, ki, g.padding),
        valid_outputs(ow, g.w, 1, kj, g.padding),
    )
}

/// Output positions `o` in `0..out_len` whose input index `o * stride + offset - padding`
/// falls inside `0..in_len`, as a half-open range.
fn valid_outputs(
    out_len: usize,
    in_len: usize,
    stride: usize,
    offset: usize,
    padding: usize,
) -> (usize, usize) {
    let lo = padding.saturating_sub(offset).div_ceil(stride);
    let hi = (in_len + padding).saturating_sub(offset).div_ceil(stride);
    (lo.min(out_len), hi.min(out_len).max(lo.min(out_len)))
}

/// One image's patches: row `(c, ki, kj)` of `col` (rows `row_stride` apart) holds, for every
/// output position, the input value under kernel tap `(ki, kj)` of channel `c` (zero in the
/// padding).
fn im2col(g: &ConvGeometry, x: &[f32], col: &mut [f32], row_stride: usize) {
    let (oh, ow) = g.oh_ow();
    let (s, p) = (g.stride, g.padding);
    let (taps, same) = (g.kernel * g.kernel, is_same(g));
    for (c, channel) in x.chunks_exact(g.h * g.w).enumerate() {
        for_each_tap(g, |t, (ki, kj), (oy_lo, oy_hi), (ox_lo, ox_hi)| {
            let row = &mut col[(c * taps + t) * row_stride..][..oh * ow];
            if same {
                let shift = shift(g, ki, kj);
                shifted_plane(row, channel, g.w, shift, (oy_lo, oy_hi), (ox_lo, ox_hi));
                return;
            }
            for (oy, dst) in row.chunks_exact_mut(ow).enumerate() {
                if oy < oy_lo || oy >= oy_hi {
                    dst.fill(0.0);
                    continue;
                }
                let src = &channel[(oy * s + ki - p) * g.w..][..g.w];
                dst[..ox_lo].fill(0.0);
                dst[ox_hi..].fill(0.0);
                if ox_lo == ox_hi {
                    // The tap reads only padding on this row (a kernel wider than the input):
                    // nothing to copy.
                } else if s == 1 {
                    let start = ox_lo + kj - p;
                    dst[ox_lo..ox_hi].copy_from_slice(&src[start..start + ox_hi - ox_lo]);
                } else {
                    for (ox, d) in dst.iter_mut().enumerate().take(ox_hi).skip(ox_lo) {
                        *d = src[ox * s + kj - p];
                    }
                }
            }
        });
    }
}

/// Calls `f(t, (ki, kj), rows, columns)` for every kernel tap `(ki, kj)`, `t` counting them
/// row by row, with the half-open ranges of output rows and columns at which the tap reads
/// inside the input.
#[inline(always)]
fn for_each_tap(
    g: &ConvGeometry,
    mut f: impl FnMut(usize, (usize, usize), (usize, usize), (usize, usize)),
) {
    let (oh, ow) = g.oh_ow();
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    for ki in 0..k {
        let rows = valid_outputs(oh, g.h, s, ki, p);
        for kj in 0..k {
            f(
                ki * k + kj,
                (ki, kj),
                rows,
                valid_outputs(ow, g.w, s, kj, p),
            );
        }
    }
}

/// A stride-1 convolution whose output has its input's size: a "same" convolution.
#[inline(always)]
fn is_same(g: &ConvGeometry) -> bool {
    g.stride == 1 && g.oh_ow() == (g.h, g.w)
}

/// One im2col row of a stride-1 convolution whose output has its input's size (a "same"
/// convolution: all of GoogLeNet's 1x1, 3x3 and 5x5 ones): output position `d` reads input
/// position `d + shift` of the flattened plane, so the valid rows are one shifted block, copied
/// at once (instead of one short copy per output row), after which the columns that wrapped
/// around a row's edge (the padding) are zeroed.
fn shifted_plane(
    row: &mut [f32],
    plane: &[f32],
    w: usize,
    shift: isize,
    (oy_lo, oy_hi): (usize, usize),
    (ox_lo, ox_hi): (usize, usize),
) {
    let (start, end) = (oy_lo * w, oy_hi * w);
    row[..start].fill(0.0);
    row[end..].fill(0.0);
    let (block, from) = shifted_block(plane.len(), shift, start..end);
    row[start..block.start].fill(0.0);
    row[block.end..end].fill(0.0);
    row[block.clone()].copy_from_slice(&plane[from..from + block.len()]);
    zero_columns(&mut row[start..end], w, (ox_lo, ox_hi));
}

/// Within output positions `valid` (the valid rows of a tap), the block `d` whose input
/// position `d + shift` stays inside a plane of `plane_len` values (it leaves it only in the
/// padding columns of the first and last valid rows), and where that block starts in the plane.
#[inline(always)]
fn shifted_block(
    plane_len: usize,
    shift: isize,
    valid: std::ops::Range<usize>,
) -> (std::ops::Range<usize>, usize) {
    let lo = valid.start.max((-shift).max(0) as usize).min(valid.end);
    let hi = valid
        .end
        .min((plane_len as isize - shift).max(0) as usize)
        .max(lo);
    // An empty block starts anywhere: at 0, which every plane has.
    let from = if lo < hi {
        (lo as isize + shift) as usize
    } else {
        0
    };
    (lo..hi, from)
}

/// Zeroes the columns outside `ox_lo..ox_hi` of every row (`w` wide) of `rows`: a kernel tap's
/// padding, one or two columns. Column by column, down the rows: one short `memset` call per
/// row and column was 2% of a GoogLeNet training step.
#[inline(always)]
fn zero_columns(rows: &mut [f32], w: usize, (ox_lo, ox_hi): (usize, usize)) {
    for column in (0..ox_lo).chain(ox_hi..w) {
        for v in rows.iter_mut().skip(column).step_by(w) {
            *v = 0.0;
        }
    }
}

/// The transpose of `im2col`: adds every patch value back onto the input position it came
/// from. `col` is scratch: in "same" stride-1 convolutions the values of padding positions are
/// zeroed in it, so that each kernel tap is one shifted block added at once (the inverse of
/// `shifted_plane`) instead of one short addition per output row.
#[inline(always)]
fn col2im_add(g: &ConvGeometry, col: &mut [f32], row_stride: usize, x: &mut [f32]) {
    let (oh, ow) = g.oh_ow();
    let (s, p) = (g.stride, g.padding);
    let (taps, same) = (g.kernel * g.kernel, is_same(g));
    for (c, channel) in x.chunks_exact_mut(g.h * g.w).enumerate() {
        for_each_tap(g, |t, (ki, kj), (oy_lo, oy_hi), (ox_lo, ox_hi)| {
            let row = &mut col[(c * taps + t) * row_stride..][..oh * ow];
            if same {
                let shift = shift(g, ki, kj);
                add_shifted_plane(channel, row, g.w, shift, (oy_lo, oy_hi), (ox_lo, ox_hi));
                return;
            }
            if ox_lo == ox_hi {
                return;
            }
            for oy in oy_lo..oy_hi {
                let src = &row[oy * ow..][..ow];
                let dst = &mut channel[(oy * s + ki - p) * g.w..][..g.w];
                if s == 1 {
                    let start = ox_lo + kj - p;
                    let dst = &mut dst[start..start + ox_hi - ox_lo];
                    dst.iter_mut()
                        .zip(&src[ox_lo..ox_hi])
                        .for_each(|(d, &v)| *d += v);
                } else {
                    for ox in ox_lo..ox_hi {
                        dst[ox * s + kj - p] += src[ox];
                    }
                }
            }
        });
    }
}

/// The transpose of `shifted_plane`: `plane[d + shift] += row[d]` for every output position
/// `d` of the valid rows whose tap is inside the input; the padding columns of `row` are
/// zeroed first, so that the valid rows are one block.
#[inline(always)]
fn add_shifted_plane(
    plane: &mut [f32],
    row: &mut [f32],
    w: usize,
    shift: isize,
    (oy_lo, oy_hi): (usize, usize),
    (ox_lo, ox_hi): (usize, usize),
) {
    let (start, end) = (oy_lo * w, oy_hi * w);
    zero_columns(&mut row[start..end], w, (ox_lo, ox_hi));
    // Outside the block, only padding columns, zero now.
    let (block, to) = shifted_block(plane.len(), shift, start..end);
    let dst = &mut plane[to..to + block.len()];
    for (d, &v) in dst.iter_mut().zip(&row[block]) {
        *d += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::test_values::values;

    /// im2col by its definition, one value at a time.
    fn naive_im2col(g: &ConvGeometry, x: &[f32]) -> Vec<f32> {
        let (oh, ow) = g.output_size().unwrap();
        let mut col = Vec::new();
        for c in 0..g.c_in {
            for ki in 0..g.kernel {
                for kj in 0..g.kernel {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let iy = (oy * g.stride + ki) as isize - g.padding as isize;
                            let ix = (ox * g.stride + kj) as isize - g.padding as isize;
                            let inside =
                                iy >= 0 && ix >= 0 && iy < g.h as isize && ix < g.w as isize;
                            col.push(if inside {
                                x[(c * g.h + iy as usize) * g.w + ix as usize]
                            } else {
                                0.0
                            });
                        }
                    }
                }
            }
        }
        col
    }

    fn geometry(
        c_in: usize,
        h: usize,
        w: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> ConvGeometry {
        ConvGeometry {
            batch: 1,
            c_in,
            h,
            w,
            c_out: 1,
            kernel,
            stride,
            padding,
        }
    }

    /// "Same" convolutions (masked rows on planes up to `MASKED_MAX_PLANE` values, shifted
    /// blocks above), a kernel wider than the input, strided and unpadded ones.
    const SHAPES: [(usize, usize, usize, usize, usize, usize); 10] = [
        (2, 7, 6, 3, 1, 1),
        (1, 5, 5, 5, 1, 2),
        (2, 1, 1, 5, 1, 2),
        (1, 2, 3, 3, 1, 1),
        (3, 4, 4, 1, 1, 0),
        (2, 7, 5, 3, 2, 1),
        (1, 6, 6, 3, 1, 0),
        (4, 3, 3, 5, 1, 2),
        (3, 6, 6, 3, 1, 1),
        (2, 33, 32, 3, 1, 1),
    ];

    #[test]
    fn im2col_matches_its_definition_both_ways() {
        for (c_in, h, w, kernel, stride, padding) in SHAPES {
            let g = geometry(c_in, h, w, kernel, stride, padding);
            let x = values(g.in_item(), 6);
            let (oh, ow) = g.output_size().unwrap();
            let expected = naive_im2col(&g, &x);
            // Garbage first: every value must be written.
            let mut col = vec![f32::NAN; g.patch_len() * oh * ow];
            Patches::new(&g).im2col(&x, 0..c_in, &mut col, oh * ow);
            assert_eq!(col, expected, "{g:?}");
            let mut col = vec![f32::NAN; g.patch_len() * oh * ow];
            im2col(&g, &x, &mut col, oh * ow);
            assert_eq!(col, expected, "{g:?}, shifted blocks");
        }
    }

    #[test]
    fn masked_rows_are_taken_where_they_should() {
        assert!(MaskedTaps::new(&geometry(2, 6, 6, 3, 1, 1)).is_some());
        assert!(MaskedTaps::new(&geometry(2, 32, 32, 5, 1, 2)).is_some());
        assert!(MaskedTaps::new(&geometry(2, 33, 32, 3, 1, 1)).is_none());
        assert!(MaskedTaps::new(&geometry(2, 7, 5, 3, 2, 1)).is_none());
        assert!(MaskedTaps::new(&geometry(1, 6, 6, 3, 1, 0)).is_none());
    }

    #[test]
    fn a_range_of_channels_gives_its_rows_of_the_whole_image() {
        // A task of channels 2..4 of 6 reads its neighbours' values (masked out) and must give
        // exactly the rows the whole image has for them.
        for (kernel, padding) in [(3, 1), (5, 2), (1, 0)] {
            let g = geometry(6, 5, 4, kernel, 1, padding);
            let x = values(g.in_item(), 7);
            let rows = kernel * kernel * 20;
            let whole = naive_im2col(&g, &x);
            let mut col = vec![f32::NAN; 2 * rows];
            Patches::new(&g).im2col(&x, 2..4, &mut col, 20);
            assert_eq!(col, whole[2 * rows..4 * rows], "{g:?}");
        }
    }

    #[test]
    fn col2im_is_the_transpose_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for any x and c: strided, and "same" stride-1
        // kernels (masked rows, and shifted blocks on larger planes) down to planes as small
        // as GoogLeNet's last ones; also on a slice of channels, as a task of a split image
        // holds them.
        for (_, h, w, kernel, stride, padding) in SHAPES {
            let g = geometry(3, h, w, kernel, stride, padding);
            let (oh, ow) = g.output_size().unwrap();
            let x = values(g.in_item(), 4);
            let c = values(g.patch_len() * oh * ow, 5);
            let mut col = vec![0.0; c.len()];
            im2col(&g, &x, &mut col, oh * ow);
            let lhs: f64 = col.iter().zip(&c).map(|(a, b)| (a * b) as f64).sum();
            let patches = Patches::new(&g);
            let mut back = vec![0.0; x.len()];
            patches.col2im_add(&mut c.clone(), oh * ow, &mut back);
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| (a * b) as f64).sum();
            assert!((lhs - rhs).abs() < 1e-3, "{g:?}: {lhs} vs {rhs}");
            let mut by_blocks = vec![0.0; x.len()];
            col2im_add(&g, &mut c.clone(), oh * ow, &mut by_blocks);
            assert_eq!(back, by_blocks, "{g:?}: masked rows against shifted blocks");
            // Channel 1 alone, its rows only.
            let (rows, plane) = (kernel * kernel * oh * ow, h * w);
            let mut one = vec![0.0; plane];
            patches.col2im_add(&mut c[rows..2 * rows].to_vec(), oh * ow, &mut one);
            assert_eq!(one, by_blocks[plane..2 * plane], "{g:?}: one channel");
        }
    }
}
