//! `Batch`: the images of an NCHW tensor read in place, each one contiguous, whether the tensor
//! is whole or a channel slice of a larger one. The kernels (`conv_kernels`, `norm_kernels`)
//! read their inputs through it.

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
        assert!(stride >= item_len, "images overlap");
        assert!(
            len == 0 || data.len() >= (len - 1) * stride + item_len,
            "batch data too short"
        );
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
