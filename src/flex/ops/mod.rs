//! The fast operations as a burn backend extension (`FastOps`): implemented for the flex
//! backend by this crate's kernels (`flex.rs`: `conv_kernels`, `direct_conv`, `dense_kernels`,
//! `norm_kernels`, `pool_kernels`, `sgd_kernels`), and for `Autodiff<flex>` with handwritten
//! backward passes (`autodiff.rs`: the convolution's computes all three gradients in one pass,
//! where burn's generic backward runs three separate operations).
//!
//! The `#[backend_extension]` pattern follows burn's own `burn-signal` crate.

mod autodiff;
mod flex;

use burn::backend::{backend_extension, tensor::FloatTensor, Backend};

use super::sgd_kernels::SgdStep;

/// Convolution (square kernel, no dilation, one group) + bias + optional ReLU, a fully
/// connected layer + bias + optional ReLU, batch norm, a channel split, and max pooling
/// (square window, no dilation).
#[backend_extension(Flex, Autodiff)]
pub trait FastOps: Backend {
    /// `relu(conv2d(x, weight) + bias)` (or without the ReLU).
    fn fused_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// Gradients of `fused_conv2d` with respect to `x` (when `need_x`, else an empty tensor),
    /// `weight` and `bias`, given its `output` and the gradient of that output.
    #[allow(clippy::too_many_arguments)]
    fn fused_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        relu: bool,
        need_x: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// `relu(x · weight + bias)` (or without the ReLU): a fully connected layer, `x [m, k]`,
    /// `weight [k, n]`, `bias [n]`.
    fn fused_dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// Gradients of `fused_dense` with respect to `x` (when `need_x`, else an empty tensor),
    /// `weight` and `bias`, given its `output` and the gradient of that output.
    fn fused_dense_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        relu: bool,
        need_x: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Batch normalization with the batch's own statistics (training), then ReLU when `relu`:
    /// the output, and the batch's mean and biased variance per channel. With `across_ranks`,
    /// the statistics of all the ranks' batches together, summed with the function
    /// [`super::sync_batch_norm`] installed (PyTorch's `SyncBatchNorm`).
    fn fused_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
        across_ranks: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients of `fused_batch_norm` with respect to `x`, `gamma` and `beta`, given the
    /// statistics and output it returned and the gradient of that output (`across_ranks` as
    /// in the forward pass).
    #[allow(clippy::too_many_arguments)]
    fn fused_batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        output: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
        across_ranks: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Maps `[n, a + b + c, h, w]` cut into their first `a`, next `b` and last `c` channels,
    /// each a view of `y`'s storage (the convolutions read channel slices in place). Under
    /// autodiff the three gradients are joined once, when all three have arrived, where
    /// burn's `narrow` would give each piece a zero-filled gradient of `y`'s whole size and add
    /// them up. Every piece must take part in the loss.
    fn split_channels(
        y: FloatTensor<Self>,
        sizes: [usize; 3],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// A map and three convolutions joined on channels, each convolution written straight into
    /// its place in one output `[n, Σ channels, oh, ow]`: first `leading` as it is, then
    /// `relu(conv2d(x_i, weight_i) + bias_i)` (or without the ReLU) with
    /// `windows[i] = (stride, padding)`. What `Tensor::cat` of the four gives, without copying
    /// the convolutions' outputs (an Inception block's last step). Three tensors each rather
    /// than lists: burn 0.22's extension macro does not convert lists of tensors.
    #[allow(clippy::too_many_arguments)]
    fn fused_conv2d_cat(
        leading: FloatTensor<Self>,
        x1: FloatTensor<Self>,
        weight1: FloatTensor<Self>,
        bias1: FloatTensor<Self>,
        x2: FloatTensor<Self>,
        weight2: FloatTensor<Self>,
        bias2: FloatTensor<Self>,
        x3: FloatTensor<Self>,
        weight3: FloatTensor<Self>,
        bias3: FloatTensor<Self>,
        windows: [(usize, usize); 3],
        relu: bool,
    ) -> FloatTensor<Self>;

    /// Max pooling; padding counts as minus infinity.
    fn fast_max_pool2d(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> FloatTensor<Self>;

    /// Max pooling, and which tap of each window holds its maximum (`ki * kernel + kj`, as a
    /// float tensor of the output's shape): what the backward pass needs.
    fn fast_max_pool2d_with_taps(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The input gradient of `fast_max_pool2d` (input `[n, c, input_size]`), given the taps
    /// `fast_max_pool2d_with_taps` returned and the output's gradient.
    #[allow(clippy::too_many_arguments)]
    fn fast_max_pool2d_backward(
        taps: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        input_size: [usize; 2],
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> FloatTensor<Self>;

    /// One SGD step of a parameter (`sgd_kernels`, burn's `Sgd` in one pass): the updated
    /// `weight` and, with momentum, the velocity (`velocity` is its last value, an empty tensor
    /// at the first step: burn's extension macro passes no optional tensors); without momentum
    /// the second tensor is empty.
    fn sgd_step(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        rule: SgdStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}
