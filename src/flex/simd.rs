//! The kernels' own loops compiled for the instruction set of the CPU they run on, chosen at
//! run time.
//!
//! Why: the crate is built for baseline x86-64 (SSE2), so that one binary runs on every x86
//! CPU; the compiler then vectorizes plain loops with 4-wide SSE at most. `pulp` (already in
//! burn's tree: it is what `gemm` dispatches with) compiles a [`pulp::WithSimd`] operation
//! inside functions built for AVX-512 (x86-64-v4) and AVX2 + FMA (v3) and calls the one the
//! CPU supports, so the same plain loops run 16 or 8 floats wide where the CPU can.
//!
//! The operation's `with_simd` and every function it calls in its loops must be
//! `#[inline(always)]`: only code inlined into pulp's function gets its instruction set. (A
//! closure does not do: the compiler keeps a large one out of line, compiled for the baseline.)

/// Runs `op` compiled for the best instruction set this CPU has.
#[inline(always)]
pub fn vectorized<Op: pulp::WithSimd>(op: Op) -> Op::Output {
    pulp::Arch::new().dispatch(op)
}
