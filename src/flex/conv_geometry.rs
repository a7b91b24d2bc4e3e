//! The sizes of one convolution, shared by the kernels that compute it (`conv_kernels`,
//! `direct_conv`, `tap_conv`, `weight_grad`).

use super::window::window_output;

/// The sizes of one convolution: input `[n, c_in, h, w]`, weight `[c_out, c_in, k, k]`,
/// output `[n, c_out, oh, ow]`. Square kernel, same stride and padding on both axes,
/// no dilation, one group: every convolution of this crate's models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeometry {
    /// Output height and width (PyTorch's floor rule); `None` when the window does not fit.
    pub fn output_size(&self) -> Option<(usize, usize)> {
        let out = |len| window_output(len, self.kernel, self.stride, self.padding, false);
        Some((out(self.h)?, out(self.w)?))
    }

    pub(super) fn oh_ow(&self) -> (usize, usize) {
        self.output_size()
            .expect("convolution window larger than the padded input")
    }

    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    pub(super) fn patch_len(&self) -> usize {
        self.c_in * self.kernel * self.kernel
    }

    pub(super) fn out_plane(&self) -> usize {
        let (oh, ow) = self.oh_ow();
        oh * ow
    }

    pub(super) fn in_item(&self) -> usize {
        self.c_in * self.h * self.w
    }

    pub(super) fn out_item(&self) -> usize {
        self.c_out * self.out_plane()
    }

    /// The row length of the zero-padded input: `w + 2·padding`.
    pub(super) fn padded_width(&self) -> usize {
        self.w + 2 * self.padding
    }

    /// Copies one input channel's plane (`h x w`) into `dst`, a zeroed padded plane with rows of
    /// `padded_width`, at its place inside the padding.
    pub(super) fn copy_padded(&self, plane: &[f32], dst: &mut [f32]) {
        let (p, width) = (self.padding, self.padded_width());
        for (y, row) in plane.chunks_exact(self.w).enumerate() {
            dst[(y + p) * width + p..][..self.w].copy_from_slice(row);
        }
    }

    /// A 1x1 stride-1 unpadded convolution reads its input as the im2col matrix itself.
    pub(super) fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }
}
