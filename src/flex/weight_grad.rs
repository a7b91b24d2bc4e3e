//! The weight gradient of a stride-1 convolution computed directly, without im2col.
//!
//! Why: `conv_kernels::backward` otherwise builds the im2col matrix of the input again (k²
//! copies of it) and hands `gemm` a product whose inner dimension is the output's area and
//! whose result is small (`c_out x c_in·k²`); `gemm` then packs that copy once more. With
//! stride 1 the copy is not needed: on a grid as wide as the padded input (`w + 2·padding`),
//! output position `q` (row-major on that grid) reads, under kernel tap `(ky, kx)`, padded
//! input position `q + ky·W + kx`, a shifted run of the padded plane. The output gradient is
//! laid on the same grid (zeros in its extra columns, where the run wraps into the next row),
//! and each weight's gradient is the dot product of an output channel's row with a shifted run
//! of an input channel: a GEMM whose right operand is read in place.
//!
//! The product is tiled as `gemm` would: `CO` output channels by `R` patch rows (input
//! channel and tap) of running sums, 16 lanes each, in registers; each gradient vector loaded
//! feeds `R` multiply-adds and each input vector `CO`. Each weight's gradient is one sum in a
//! fixed order (images, positions in 16 lanes, then the lanes), whatever the thread count.

use std::ops::Range;

use rayon::prelude::*;

use super::conv_geometry::ConvGeometry;
use super::image_batch::Batch;
use super::simd::{instruction_set, vectorized};

/// Positions summed together: a vector of 16 floats (two AVX2 registers).
const LANES: usize = 16;

/// When the direct weight gradient runs instead of im2col + GEMM: at most `max_channels`
/// output channels, maps of at least `min_pixels`, patches of at least `min_patch` rows.
struct Rule {
    max_channels: usize,
    min_pixels: usize,
    min_patch: usize,
}

/// A batch smaller than the thread count, where the GEMM path cuts the product along its inner
/// dimension across threads. Per layer at batch 1 on a 2-core Intel Xeon with AVX-512 (the
/// weight gradient alone, medians of 30 steps), direct against im2col + GEMM: VGG-11-small's
/// 112x112 8 -> 16 0.30 against 0.85 ms, 56x56 32 -> 32 0.39 against 1.04, 28x28 64 -> 64 0.42
/// against 0.82, 224x224 1 -> 8 0.25 against 0.30, its 14x14 ones even (0.25); GoogLeNet's
/// wider or smaller layers lost (12x12 128 -> 192: 1.07 against 0.42 ms; 6x6 24 -> 64: 0.16
/// against 0.06): with many output channels the GEMM's efficiency outweighs the copy im2col
/// makes (its size per multiply-add falls as 1 / c_out), and on small maps each tile's run of
/// positions is a few vectors long, its setup and final sums dominating.
const SHARED: Rule = Rule {
    max_channels: 64,
    min_pixels: 196,
    min_patch: 1,
};

/// One run of images per thread, against single-threaded GEMMs at full speed. At batch 32 on
/// the same Xeon, per image: VGG-11-small's 112x112 8 -> 16 0.33 against 0.81 ms, 56x56 32 ->
/// 32 0.55 against 0.93, 16 -> 32 0.29 against 0.41; but 28x28 64 -> 64 0.65 against 0.54,
/// the paper GoogLeNet's 28x28 16 -> 32 (5x5) even, its 14x14 ones 1.5-2.4x slower, and the
/// first layer's 9-row patch (1 -> 8 at 224x224) 0.26 against 0.19.
const PER_THREAD: Rule = Rule {
    max_channels: 32,
    min_pixels: 56 * 56,
    min_patch: 16,
};

/// Whether `accumulate` handles this convolution (with `parallel` as it will be called): one
/// it supports, within the measured rule of where it beats im2col + GEMM.
pub fn applies(g: &ConvGeometry, parallel: bool) -> bool {
    let rule = if parallel { &SHARED } else { &PER_THREAD };
    let pixels = g.output_size().map_or(0, |(oh, ow)| oh * ow);
    supports(g)
        && g.c_out <= rule.max_channels
        && pixels >= rule.min_pixels
        && g.patch_len() >= rule.min_patch
}

/// Whether `accumulate` can compute this convolution's weight gradient at all (whether it is
/// worth it is `applies`).
fn supports(g: &ConvGeometry) -> bool {
    g.stride == 1 && g.kernel > 1 && g.output_size().is_some() && instruction_set() != "baseline"
}

/// `grad_w[c_out x c_in·k²] += dy · im2col(x)ᵀ` over `images`, where `dy` holds their output
/// gradients side by side (`[c_out x (images · oh·ow)]`, image `j`'s at column `j · oh·ow`),
/// as `conv_kernels::backward` lays them out. With `parallel`, the tiles run on rayon's
/// threads (a batch smaller than the thread count); else on the calling thread.
pub fn accumulate(
    g: &ConvGeometry,
    x: Batch,
    images: Range<usize>,
    dy: &[f32],
    grad_w: &mut [f32],
    parallel: bool,
) {
    accumulate_in_tiles(g, x, images, dy, grad_w, parallel, tile_sizes());
}

/// `accumulate` in tiles of `co_tile x r_tile` running sums: (4, 6) or (2, 3).
fn accumulate_in_tiles(
    g: &ConvGeometry,
    x: Batch,
    images: Range<usize>,
    dy: &[f32],
    grad_w: &mut [f32],
    parallel: bool,
    (co_tile, r_tile): (usize, usize),
) {
    assert!(supports(g), "weight_grad::accumulate on {g:?}");
    let grid = Grid::new(g, images.len());
    assert_eq!(dy.len(), g.c_out * images.len() * grid.plane, "dy length");
    assert_eq!(grad_w.len(), g.c_out * grid.patch, "grad_w length");
    let xp = grid.pad_input(g, x, images, parallel);
    let dyp = grid.pad_gradient(g, dy, co_tile, parallel);
    let tiles: Vec<(usize, usize)> = (0..g.c_out.div_ceil(co_tile))
        .flat_map(|c| (0..grid.patch.div_ceil(r_tile)).map(move |r| (c * co_tile, r * r_tile)))
        .collect();
    let one_tile = |&(co, r): &(usize, usize)| {
        vectorized(
            #[inline(always)]
            || {
                let mut sums = [0.0; MAX_TILE];
                match (co_tile, r_tile) {
                    (4, 6) => {
                        sums.copy_from_slice(tile::<4, 6>(&grid, &dyp, &xp, co, r).as_flattened())
                    }
                    (2, 3) => sums[..6]
                        .copy_from_slice(tile::<2, 3>(&grid, &dyp, &xp, co, r).as_flattened()),
                    _ => unreachable!("tiles of 4 x 6 or 2 x 3"),
                }
                sums
            },
        )
    };
    let sums: Vec<[f32; MAX_TILE]> = if parallel {
        tiles.par_iter().map(one_tile).collect()
    } else {
        tiles.iter().map(one_tile).collect()
    };
    for (&(co, r), tile_sums) in tiles.iter().zip(&sums) {
        for (i, row) in tile_sums[..co_tile * r_tile]
            .chunks_exact(r_tile)
            .enumerate()
        {
            if co + i >= g.c_out {
                break;
            }
            let dst = &mut grad_w[(co + i) * grid.patch..][..grid.patch];
            for (k, &v) in row.iter().enumerate() {
                if let Some(d) = dst.get_mut(r + k) {
                    *d += v;
                }
            }
        }
    }
}

/// Running sums of the largest tile.
const MAX_TILE: usize = 24;

/// Output channels by patch rows of a tile: 4 x 6 running sums of 16 lanes fill 24 of
/// AVX-512's 32 registers; AVX2's 16 registers (8 lanes each) hold 2 x 3.
fn tile_sizes() -> (usize, usize) {
    if instruction_set() == "AVX-512" {
        (4, 6)
    } else {
        (2, 3)
    }
}

/// The padded grid of one convolution over a group of images.
struct Grid {
    /// Patch rows: `c_in · k²`.
    patch: usize,
    /// Output pixels per map, `oh · ow`.
    plane: usize,
    ow: usize,
    /// The padded input's width, `w + 2·padding`: the grid's row length.
    width: usize,
    images: usize,
    /// Values per image of the output gradient on the grid: `oh` rows, rounded up to whole
    /// vectors.
    dy_image: usize,
    /// Values per image of the padded input, with room for the farthest tap's run.
    x_image: usize,
    /// Where patch row `(c, ky, kx)` reads in an image's padded input: `c·images·x_image +
    /// ky·width + kx`.
    offsets: Vec<usize>,
}

impl Grid {
    fn new(g: &ConvGeometry, images: usize) -> Self {
        let (oh, ow) = g.output_size().expect("a valid stride-1 convolution");
        let width = g.padded_width();
        let dy_image = (oh * width).div_ceil(LANES) * LANES;
        // The last vector of the grid (position dy_image - 1) under the last tap reads
        // (dy_image - 1) + (k - 1)·(width + 1).
        let x_image = dy_image + (g.kernel - 1) * (width + 1);
        let k = g.kernel;
        let offsets = (0..g.c_in * k * k)
            .map(|r| {
                let (c, tap) = (r / (k * k), r % (k * k));
                c * images * x_image + (tap / k) * width + tap % k
            })
            .collect();
        Self {
            patch: g.c_in * k * k,
            plane: oh * ow,
            ow,
            width,
            images,
            dy_image,
            x_image,
            offsets,
        }
    }

    /// The images' input, zero-padded, as `[c_in][image][x_image]`.
    fn pad_input(
        &self,
        g: &ConvGeometry,
        x: Batch,
        images: Range<usize>,
        parallel: bool,
    ) -> Vec<f32> {
        let mut xp = vec![0.0; g.c_in * self.images * self.x_image];
        let fill = |(r, dst): (usize, &mut [f32])| {
            let (c, j) = (r / self.images, r % self.images);
            let src = &x.item(images.start + j)[c * g.h * g.w..][..g.h * g.w];
            g.copy_padded(src, dst);
        };
        if parallel {
            xp.par_chunks_mut(self.x_image).enumerate().for_each(fill);
        } else {
            xp.chunks_mut(self.x_image).enumerate().for_each(fill);
        }
        xp
    }

    /// The output gradient on the grid, as `[c_out rounded up to whole tiles][image][dy_image]`,
    /// zeros in the grid's extra columns and rows and in the missing channels.
    fn pad_gradient(
        &self,
        g: &ConvGeometry,
        dy: &[f32],
        co_tile: usize,
        parallel: bool,
    ) -> Vec<f32> {
        let channels = g.c_out.div_ceil(co_tile) * co_tile;
        let mut dyp = vec![0.0; channels * self.images * self.dy_image];
        let fill = |(r, dst): (usize, &mut [f32])| {
            let (co, j) = (r / self.images, r % self.images);
            if co >= g.c_out {
                return;
            }
            let src = &dy[(co * self.images + j) * self.plane..][..self.plane];
            for (oy, row) in src.chunks_exact(self.ow).enumerate() {
                dst[oy * self.width..][..self.ow].copy_from_slice(row);
            }
        };
        if parallel {
            dyp.par_chunks_mut(self.dy_image).enumerate().for_each(fill);
        } else {
            dyp.chunks_mut(self.dy_image).enumerate().for_each(fill);
        }
        dyp
    }
}

/// The gradients of output channels `co..co + CO` by patch rows `r..r + R` (rows past the
/// patch repeat its last one; the caller drops them), summed over the group's images.
#[inline(always)]
fn tile<const CO: usize, const R: usize>(
    grid: &Grid,
    dyp: &[f32],
    xp: &[f32],
    co: usize,
    r: usize,
) -> [[f32; R]; CO] {
    let offsets: [usize; R] = std::array::from_fn(|k| grid.offsets[(r + k).min(grid.patch - 1)]);
    let dy_channel = grid.images * grid.dy_image;
    let vectors = grid.dy_image / LANES;
    let mut acc = [[[0.0f32; LANES]; R]; CO];
    for j in 0..grid.images {
        // Every row is checked once here to hold `vectors` whole vectors; the loop then reads
        // through pointers. Indexing checked in the loop (lengths the compiler kept in memory)
        // branched to a panic at every load, and with an exit to a panic inside the loop the
        // compiler stored all 24 running sums to memory at every step.
        let dy_rows: [*const [f32; LANES]; CO] = std::array::from_fn(|i| {
            let row = &dyp[(co + i) * dy_channel + j * grid.dy_image..][..vectors * LANES];
            row.as_ptr().cast()
        });
        let x_image = &xp[j * grid.x_image..];
        let x_rows: [*const [f32; LANES]; R] = std::array::from_fn(|k| {
            let row = &x_image[offsets[k]..][..vectors * LANES];
            row.as_ptr().cast()
        });
        for t in 0..vectors {
            // SAFETY: each row above holds `vectors` vectors of 16 floats and t < vectors;
            // `[f32; 16]` has the alignment of `f32`.
            let d: [&[f32; LANES]; CO] = std::array::from_fn(|i| unsafe { &*dy_rows[i].add(t) });
            for k in 0..R {
                // SAFETY: as above.
                let v = unsafe { &*x_rows[k].add(t) };
                for i in 0..CO {
                    acc[i][k] = multiply_add(acc[i][k], d[i], v);
                }
            }
        }
    }
    acc.map(|row| row.map(lane_total))
}

/// The sum of 16 lanes, halving: three vector additions and one of two floats, where a
/// lane-by-lane sum would be 15 dependent scalar additions per running sum (24 of them per
/// tile, a cost as large as the multiply-adds themselves on a 14x14 map).
#[inline(always)]
fn lane_total(lanes: [f32; LANES]) -> f32 {
    let eight: [f32; 8] = std::array::from_fn(|i| lanes[i] + lanes[i + 8]);
    let four: [f32; 4] = std::array::from_fn(|i| eight[i] + eight[i + 4]);
    (four[0] + four[2]) + (four[1] + four[3])
}

/// `acc + a * b`, lane by lane, fused.
#[inline(always)]
fn multiply_add(acc: [f32; LANES], a: &[f32; LANES], b: &[f32; LANES]) -> [f32; LANES] {
    std::array::from_fn(|l| a[l].mul_add(b[l], acc[l]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::test_values::{in_pool, values};

    /// `dy · im2col(x)ᵀ` by the definition, one multiply-add at a time.
    fn naive(g: &ConvGeometry, x: &[f32], images: Range<usize>, dy: &[f32]) -> Vec<f32> {
        let (oh, ow) = g.output_size().unwrap();
        let (k, n) = (g.kernel, images.len());
        let mut grad = vec![0.0f64; g.c_out * g.c_in * k * k];
        for co in 0..g.c_out {
            for (j, i) in images.clone().enumerate() {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let d = dy[(co * n + j) * oh * ow + oy * ow + ox] as f64;
                        for c in 0..g.c_in {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy + ky) as isize - g.padding as isize;
                                    let ix = (ox + kx) as isize - g.padding as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize
                                    {
                                        continue;
                                    }
                                    let v = x[((i * g.c_in + c) * g.h + iy as usize) * g.w
                                        + ix as usize];
                                    grad[((co * g.c_in + c) * k + ky) * k + kx] += d * v as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        grad.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn matches_the_definition_for_kernels_paddings_and_partial_tiles() {
        // (batch, images, c_in, h, w, c_out, kernel, padding): VGG's and GoogLeNet's "same"
        // 3x3 and 5x5, LeNet's unpadded 5x5, planes from 3x3 to wider than 16, channel
        // counts that leave partial tiles of both sizes.
        for (batch, images, c_in, h, w, c_out, kernel, padding) in [
            (1, 0..1, 1, 20, 20, 8, 3, 1),
            (3, 1..3, 3, 9, 7, 5, 3, 1),
            (2, 0..2, 2, 6, 6, 7, 5, 2),
            (1, 0..1, 4, 3, 3, 3, 3, 1),
            (2, 0..2, 2, 12, 10, 9, 5, 0),
            (4, 1..4, 5, 17, 17, 13, 3, 1),
        ] {
            let g = ConvGeometry {
                batch,
                c_in,
                h,
                w,
                c_out,
                kernel,
                stride: 1,
                padding,
            };
            if !supports(&g) {
                continue; // A CPU without FMA: the GEMM path runs instead.
            }
            let (oh, ow) = g.output_size().unwrap();
            let x = values(batch * g.in_item(), 1);
            let dy = values(c_out * images.len() * oh * ow, 2);
            let start = values(c_out * g.patch_len(), 3);
            let expected: Vec<f32> = naive(&g, &x, images.clone(), &dy)
                .iter()
                .zip(&start)
                .map(|(a, b)| a + b)
                .collect();
            // Both tile sizes (AVX-512's and AVX2's), on one thread and on three: the same
            // bits on any thread count, and the definition's values.
            for tiles in [(4, 6), (2, 3)] {
                let run = |threads, parallel| {
                    let mut got = start.clone();
                    in_pool(threads, || {
                        let xb = Batch::contiguous(&x, g.in_item());
                        accumulate_in_tiles(&g, xb, images.clone(), &dy, &mut got, parallel, tiles)
                    });
                    got
                };
                let (one, three) = (run(1, false), run(3, true));
                assert_eq!(one, three, "{g:?} in tiles {tiles:?}: 1 and 3 threads");
                for (e, o) in expected.iter().zip(&one) {
                    assert!((e - o).abs() < 1e-4 * (1.0 + e.abs()), "{g:?}: {e} vs {o}");
                }
            }
        }
    }

    #[test]
    fn few_output_channels_on_large_maps_take_the_direct_path_as_measured() {
        if instruction_set() == "baseline" {
            return;
        }
        let conv = |c_in, side, c_out, kernel, stride, padding| ConvGeometry {
            batch: 1,
            c_in,
            h: side,
            w: side,
            c_out,
            kernel,
            stride,
            padding,
        };
        // Batch 1: VGG-11-small's layers, LeNet's first, the paper GoogLeNet's 5x5 branches.
        assert!(applies(&conv(8, 112, 16, 3, 1, 1), true));
        assert!(applies(&conv(64, 14, 64, 3, 1, 1), true));
        assert!(applies(&conv(1, 28, 6, 5, 1, 2), true));
        assert!(applies(&conv(16, 28, 32, 5, 1, 2), true));
        // Many output channels (GoogLeNet d2l's 3x3 branch), small maps, a stride, a 1x1.
        assert!(!applies(&conv(128, 12, 192, 3, 1, 1), true));
        assert!(!applies(&conv(24, 6, 64, 5, 1, 2), true));
        assert!(!applies(&conv(1, 224, 8, 11, 4, 1), true));
        assert!(!applies(&conv(64, 28, 64, 1, 1, 0), true));
        // A run per thread: only few channels on large maps.
        assert!(applies(&conv(8, 112, 16, 3, 1, 1), false));
        assert!(applies(&conv(32, 56, 32, 3, 1, 1), false));
        assert!(!applies(&conv(64, 28, 64, 3, 1, 1), false));
        assert!(!applies(&conv(16, 28, 32, 5, 1, 2), false));
        assert!(!applies(&conv(1, 224, 8, 3, 1, 1), false));
    }
}
