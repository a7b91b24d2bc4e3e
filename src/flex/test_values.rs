//! Numbers for the kernels' unit tests: repeatable values, a pool of a chosen thread count,
//! a closeness check, and a convolution by its definition.

use super::conv_geometry::ConvGeometry;

/// `len` values in [-1, 1], the same for the same `seed`.
pub fn values(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// Every third of `values` made a zero of its sign (+0 or -0): ties that only the order of
/// comparison decides, for the pooling kernels' bit-for-bit tests.
pub fn with_zero_ties(mut values: Vec<f32>) -> Vec<f32> {
    for v in values.iter_mut().step_by(3) {
        *v = if *v > 0.0 { 0.0 } else { -0.0 };
    }
    values
}

/// The bits of each value: what bit-for-bit comparisons compare (-0 is not +0, NaN is itself).
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Runs `f` on a rayon pool of `threads` threads (the kernels read the current pool's size).
pub fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

/// `a` and `b` agree within 1e-4 of the largest magnitude in `a` (at least 1).
pub fn assert_close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-4 * scale, "{what}[{i}]: {x} vs {y}");
    }
}

/// A convolution's forward pass by its definition, one output value at a time, with bias and
/// without ReLU: what the convolution kernels' unit tests compare with.
pub fn naive_forward(g: &ConvGeometry, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.output_size().unwrap();
    let mut out = vec![0.0; g.batch * g.c_out * oh * ow];
    for n in 0..g.batch {
        for co in 0..g.c_out {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b[co];
                    for ci in 0..g.c_in {
                        for ki in 0..g.kernel {
                            for kj in 0..g.kernel {
                                let iy = (oy * g.stride + ki) as isize - g.padding as isize;
                                let ix = (ox * g.stride + kj) as isize - g.padding as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                let xv =
                                    x[((n * g.c_in + ci) * g.h + iy as usize) * g.w + ix as usize];
                                let wv = w[((co * g.c_in + ci) * g.kernel + ki) * g.kernel + kj];
                                acc += xv * wv;
                            }
                        }
                    }
                    out[((n * g.c_out + co) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    out
}
