//! `Batch`: the images of an NCHW tensor read in place, each one contiguous, whether the tensor
//! is whole or a channel slice of a larger one. The kernels (`conv_kernels`, `norm_kernels`)
//! read their inputs through it. `BatchMut`: the same for an output, so that a convolution
//! can write its channels straight into their place in a concatenation.

use std::mem::MaybeUninit;

use super::buffers::{assume_written, unwritten};

/// A batch of images, each one contiguous, `stride` values apart: a whole NCHW tensor (the
/// stride is one image) or a channel slice of a larger one, such as the gradient that a channel
/// concatenation hands each of its inputs, read in place instead of copied.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    data: &'a [f32],
    stride: usize,
    item_len: usize,
    len: usize,
}

impl<'a> Batch<'a> {
    /// Images of `item_len` values, one after the other.
    #[cfg(test)]
    pub fn contiguous(data: &'a [f32], item_len: usize) -> Self {
        assert!(
            item_len > 0 && data.len().is_multiple_of(item_len),
            "batch length"
        );
        Self::strided(data, item_len, item_len, data.len() / item_len)
    }

    /// `len` images of `item_len` values starting every `stride` values of `data`.
    pub fn strided(data: &'a [f32], stride: usize, item_len: usize, len: usize) -> Self {
        check_span(data.len(), stride, item_len, len);
        Self {
            data,
            stride,
            item_len,
            len,
        }
    }

    /// How many images, and values per image.
    pub fn dims(&self) -> (usize, usize) {
        (self.len, self.item_len)
    }

    /// Image `i`'s values.
    pub fn item(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.stride..][..self.item_len]
    }
}

/// `images` images of `item_len` values, one after the other, as `write` writes them into a new
/// output.
///
/// # Safety
/// `write` writes every value of every image it is handed.
pub unsafe fn written(images: usize, item_len: usize, write: impl FnOnce(BatchMut)) -> Vec<f32> {
    let mut out = unwritten(images * item_len);
    write(BatchMut::contiguous(&mut out, item_len));
    // SAFETY: `write` wrote every value (the caller's promise).
    unsafe { assume_written(out) }
}

/// `len` images of `item_len` values every `stride` values fit in `data_len` values without
/// overlapping.
fn check_span(data_len: usize, stride: usize, item_len: usize, len: usize) {
    assert!(stride >= item_len, "images overlap");
    assert!(
        len == 0 || data_len >= (len - 1) * stride + item_len,
        "batch data too short"
    );
}

/// Images to write, each one contiguous, `stride` values apart: a whole NCHW output (the stride
/// is one image) or a channel slice of a larger one, such as one path's channels in an
/// Inception block's concatenated output.
#[derive(Debug)]
pub struct BatchMut<'a> {
    data: &'a mut [MaybeUninit<f32>],
    stride: usize,
    item_len: usize,
    len: usize,
}

impl<'a> BatchMut<'a> {
    /// `len` images of `item_len` values starting every `stride` values of `data`.
    pub fn strided(
        data: &'a mut [MaybeUninit<f32>],
        stride: usize,
        item_len: usize,
        len: usize,
    ) -> Self {
        check_span(data.len(), stride, item_len, len);
        Self {
            data,
            stride,
            item_len,
            len,
        }
    }

    /// Images of `item_len` values, one after the other.
    pub fn contiguous(data: &'a mut [MaybeUninit<f32>], item_len: usize) -> Self {
        assert!(
            item_len > 0 && data.len().is_multiple_of(item_len),
            "batch length"
        );
        let len = data.len() / item_len;
        Self::strided(data, item_len, item_len, len)
    }

    /// How many images, and values per image.
    pub fn dims(&self) -> (usize, usize) {
        (self.len, self.item_len)
    }

    /// Image `i`'s values.
    pub fn item_mut(&mut self, i: usize) -> &mut [MaybeUninit<f32>] {
        assert!(i < self.len, "image {i} of {}", self.len);
        &mut self.data[i * self.stride..][..self.item_len]
    }

    /// Each image's values, apart.
    pub fn into_images(self) -> Vec<&'a mut [MaybeUninit<f32>]> {
        let item_len = self.item_len;
        self.runs(1)
            .into_iter()
            .map(|image| &mut image.data[..item_len])
            .collect()
    }

    /// The images in runs of `images` (the last one shorter when they do not divide the
    /// batch), each a batch of its own, to hand to different threads.
    pub fn runs(self, images: usize) -> Vec<BatchMut<'a>> {
        assert!(images > 0, "runs of at least one image");
        let (stride, item_len, len) = (self.stride, self.item_len, self.len);
        let mut rest = self.data;
        let mut runs = Vec::with_capacity(len.div_ceil(images));
        for first in (0..len).step_by(images) {
            let count = images.min(len - first);
            let take = if first + count == len {
                (count - 1) * stride + item_len
            } else {
                count * stride
            };
            let (run, tail) = std::mem::take(&mut rest).split_at_mut(take);
            rest = tail;
            runs.push(BatchMut::strided(run, stride, item_len, count));
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_a_channel_slice_reach_exactly_its_images() {
        // Three images of 5 channels, 2 values each; the slice holds channels 1 and 2.
        let (plane, channels, images) = (2, 5, 3);
        let mut data = vec![MaybeUninit::new(0.0f32); images * channels * plane];
        let slice = BatchMut::strided(&mut data[plane..], channels * plane, 2 * plane, images);
        let runs = slice.runs(2);
        assert_eq!(
            runs.iter().map(|r| r.dims()).collect::<Vec<_>>(),
            [(2, 4), (1, 4)]
        );
        for (r, mut run) in runs.into_iter().enumerate() {
            for i in 0..run.dims().0 {
                let image = (r * 2 + i) as f32;
                run.item_mut(i).iter_mut().for_each(|v| {
                    v.write(image + 1.0);
                });
            }
        }
        // SAFETY: every value was initialized by `vec!`.
        let written: Vec<f32> = data.iter().map(|v| unsafe { v.assume_init() }).collect();
        let expected: Vec<f32> = (0..images)
            .flat_map(|n| {
                (0..channels).flat_map(move |c| {
                    let v = if (1..3).contains(&c) {
                        n as f32 + 1.0
                    } else {
                        0.0
                    };
                    [v; 2]
                })
            })
            .collect();
        assert_eq!(written, expected);
    }
}
