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
