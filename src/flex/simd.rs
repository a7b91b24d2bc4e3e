//! The kernels' own loops compiled for the instruction set of the CPU they run on, chosen at
//! run time.
//!
//! Why: the crate is built for baseline x86-64 (SSE2), so that one binary runs on every x86
//! CPU; the compiler then vectorizes plain loops with 4-wide SSE at most. `pulp` (already in
//! burn's tree: it is what `gemm` dispatches with) compiles a closure inside functions built
//! for AVX-512 (x86-64-v4) and AVX2 + FMA (v3) and calls the one the
//! CPU supports, so the same plain loops run 16 or 8 floats wide where the CPU can.
//!
//! The closure and every function it calls in its loops must be `#[inline(always)]`: only
//! code inlined into pulp's function gets its instruction set. The closure is called through
//! `FnMut`: called through `FnOnce`, as pulp's own closure support does, it goes through a
//! shim that the compiler keeps out of line, compiled for the baseline.

/// Runs closure `f` (mark it `#[inline(always)]`) compiled for the best instruction set this
/// CPU has.
#[inline(always)]
pub fn vectorized<R>(f: impl FnMut() -> R) -> R {
    pulp::Arch::new().dispatch(ByRef(f))
}

/// A closure called through `FnMut`, not `FnOnce` (see the module's documentation).
struct ByRef<F>(F);

impl<R, F: FnMut() -> R> pulp::WithSimd for ByRef<F> {
    type Output = R;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(mut self, _simd: S) -> R {
        (self.0)()
    }
}

const LANES: usize = 16;

/// `sum(f(a[i], b[i]))` in 16 float32 lanes (which the compiler vectorizes, where one running
/// float sum would be a chain of dependent additions), the lanes added in float64.
#[inline(always)]
pub fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y) as f64)
        .sum();
    for (xa, xb) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += f(xa[i], xb[i]);
        }
    }
    acc.iter().map(|&v| v as f64).sum::<f64>() + rest
}

/// The instruction set the kernels' loops run with on this CPU: `"AVX-512"`, `"AVX2"` or
/// `"baseline"` (SSE2 on x86-64, or another architecture's default).
pub fn instruction_set() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        match pulp::Arch::new() {
            pulp::Arch::V4(_) => "AVX-512",
            pulp::Arch::V3(_) => "AVX2",
            _ => "baseline",
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "baseline"
    }
}
