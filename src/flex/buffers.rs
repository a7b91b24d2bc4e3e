//! Output buffers of the kernels.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Values per rayon task when zeroing: 256 KiB.
const CHUNK: usize = 1 << 16;

/// `len` zeros, written by rayon's workers in parallel.
///
/// `vec![0.0; len]` zeroes on the calling thread (mimalloc hands back reused memory, which
/// must be cleared): on a GoogLeNet training step that was the main thread's largest piece of
/// work (3% of all samples in `perf`), with rayon's workers idle meanwhile.
pub fn zeroed(len: usize) -> Vec<f32> {
    let mut values: Vec<f32> = Vec::with_capacity(len);
    values.spare_capacity_mut()[..len]
        .par_chunks_mut(CHUNK)
        .for_each(|chunk| chunk.fill(MaybeUninit::new(0.0)));
    // SAFETY: the capacity is at least `len` and its first `len` values were written just above.
    unsafe { values.set_len(len) };
    values
}

/// `len` values not yet written, for a kernel's output every value of which it writes before
/// anything reads it (`assume_written` then hands it out).
///
/// Why not `zeroed`: zeroing is a pass over the output that the kernel then overwrites, as
/// large as the output itself. The convolutions' outputs taken unwritten instead of zeroed, on
/// a 2-core Intel Xeon with AVX-512 (`inception bench`, 3 alternating runs, medians of the
/// per-run ratios): GoogLeNet d2l at batch 128 1.15x inference and 1.07x training, at 32 and
/// at 1 1.05x inference; VGG-11 at batch 1 1.04x inference; AlexNet at batch 1 even.
pub fn unwritten(len: usize) -> Vec<MaybeUninit<f32>> {
    if cfg!(test) {
        // In the unit tests, NaN: a value a kernel leaves unwritten fails its test.
        return vec![MaybeUninit::new(f32::NAN); len];
    }
    let mut values = Vec::with_capacity(len);
    // SAFETY: the capacity is at least `len`, and `MaybeUninit` needs no initialization.
    unsafe { values.set_len(len) };
    values
}

/// Writes `value` into every one of `values` (some of `unwritten`), which are then read as
/// floats. Inlined, so that inside a kernel's `simd::vectorized` loop it is compiled for the
/// same instruction set.
#[inline(always)]
pub fn fill(values: &mut [MaybeUninit<f32>], value: f32) -> &mut [f32] {
    for v in values.iter_mut() {
        v.write(value);
    }
    // SAFETY: every value was written just above.
    unsafe { values.assume_init_mut() }
}

/// The values of `unwritten` once all have been written.
///
/// # Safety
/// Every value of `values` has been written.
pub unsafe fn assume_written(values: Vec<MaybeUninit<f32>>) -> Vec<f32> {
    let mut values = std::mem::ManuallyDrop::new(values);
    let (ptr, len, capacity) = (values.as_mut_ptr(), values.len(), values.capacity());
    // SAFETY: the same allocation, length and capacity, as `f32`, which `MaybeUninit<f32>` is
    // laid out as; the caller vouches that every value is initialized.
    unsafe { Vec::from_raw_parts(ptr.cast::<f32>(), len, capacity) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn zeroed_is_all_zeros_at_any_length() {
        for len in [0, 1, 1000, super::CHUNK * 3 + 7] {
            let values = super::zeroed(len);
            assert_eq!(values.len(), len);
            assert!(values.iter().all(|&v| v.to_bits() == 0));
        }
    }
}
