//! Flush-to-zero (FTZ) and denormals-are-zero (DAZ): subnormal floats (nonzero, below
//! `f32::MIN_POSITIVE` in magnitude) computed as zero, as TensorFlow does on CPUs by default.
//!
//! Why: many x86 CPUs take a microcode assist for every vector operation that reads or writes a
//! subnormal, about 100 times the normal cost (`benches/late_epoch.sh` shows what it does to a
//! training step). The results differ from IEEE 754 only below 1.2e-38.
//!
//! The setting is a per-thread register (MXCSR on x86-64, FPCR on AArch64), so it must be set on
//! every thread that computes: the caller's and each of rayon's workers (`device::setup_cpu`
//! does both). It is written with inline assembly because Rust offers no supported way
//! (`_mm_setcsr` is deprecated: the compiler assumes the default floating-point environment,
//! which matters only for constants it folds, computed without the flush).

/// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6).
#[cfg(target_arch = "x86_64")]
const MXCSR_FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

/// FPCR's flush-to-zero (bit 24).
#[cfg(target_arch = "aarch64")]
const FPCR_FZ: u64 = 1 << 24;

/// Turns FTZ and DAZ on or off for the calling thread. A no-op on other architectures.
pub fn set_flush_denormals(on: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR into `csr`, which is valid for writes.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags))
        };
        csr = if on {
            csr | MXCSR_FTZ_DAZ
        } else {
            csr & !MXCSR_FTZ_DAZ
        };
        // SAFETY: ldmxcsr loads a value read from MXCSR with only the FTZ/DAZ bits changed.
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly))
        };
    }
    #[cfg(target_arch = "aarch64")]
    {
        let mut fpcr: u64;
        // SAFETY: reading FPCR has no side effect.
        unsafe { std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack)) };
        fpcr = if on { fpcr | FPCR_FZ } else { fpcr & !FPCR_FZ };
        // SAFETY: writes back FPCR with only the flush-to-zero bit changed.
        unsafe { std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack)) };
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = on;
}

/// Whether the calling thread flushes subnormals to zero (false where this is not supported).
pub fn flushes_denormals() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: as in `set_flush_denormals`.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags))
        };
        csr & MXCSR_FTZ_DAZ == MXCSR_FTZ_DAZ
    }
    #[cfg(target_arch = "aarch64")]
    {
        let fpcr: u64;
        // SAFETY: as in `set_flush_denormals`.
        unsafe { std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack)) };
        fpcr & FPCR_FZ != 0
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product of two small normal numbers, computed at run time.
    fn tiny_product() -> f32 {
        std::hint::black_box(1e-20f32) * std::hint::black_box(1e-20f32)
    }

    #[test]
    fn subnormal_results_become_zero_only_while_flushing() {
        // A thread of its own, so the test runner's threads keep their settings.
        std::thread::spawn(|| {
            assert!(tiny_product().is_subnormal(), "IEEE 754 by default");
            set_flush_denormals(true);
            if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
                assert!(flushes_denormals());
                assert_eq!(tiny_product(), 0.0);
                // DAZ (x86): a subnormal input reads as zero.
                let sub = std::hint::black_box(1e-39f32);
                assert!(sub.is_subnormal());
                if cfg!(target_arch = "x86_64") {
                    assert_eq!(sub * std::hint::black_box(1.0f32), 0.0);
                }
            }
            set_flush_denormals(false);
            assert!(!flushes_denormals());
            assert!(tiny_product().is_subnormal());
        })
        .join()
        .unwrap();
    }
}
