//! Fast paths for burn's flex CPU backend, with burn's own operations everywhere else.
//!
//! `conv2d`, `dense`, `fused_batch_norm_train` and `max_pool2d` are the entry points the layers
//! call. On a flex device (with or without autodiff) in float32 they run this module's operations
//! (`ops`, a burn backend extension): a convolution by im2col + GEMM with bias and ReLU fused and a
//! one-pass backward (`conv_kernels`; the forward of a first layer, with one to three input
//! channels, computed directly: `direct_conv`; the weight gradient of a stride-1 convolution with
//! few output channels on large maps, without im2col: `weight_grad`; the forward pass and the
//! input gradient of one image's stride-1 convolution as one GEMM per kernel tap on the padded
//! input: `tap_conv`; all sized by `conv_geometry`), a fully connected layer whose products with one or
//! two rows run on every thread (`dense_kernels`) and whose products with 4 to 64 rows read the
//! weights in place on AVX-512 (`streamed_product`), batch normalization in training with its
//! statistics, the ReLU and the backward each in a few passes (`norm_kernels`), a direct max pool
//! (`pool_kernels`; in inference on whole planes where they lie, at stride 1 when the output
//! keeps the input's size, `same_pool`, and at stride 2 when it halves it, `halving_pool`), and
//! a channel split whose backward joins the pieces' gradients once (`split_channels`: an
//! Inception block's three 1x1 convolutions run as one GEMM and are cut apart,
//! `nn::Conv::forward_side_by_side`), and its reverse for the block's end: the paths'
//! last convolutions written in place into their channels of the joined output (`conv2d_cat`,
//! `nn::Conv::forward_cat`). The training loop's SGD step is one in-place pass per
//! parameter (`FusedSgd`, `sgd_kernels`). On CUDA or WGPU, or when the fast path is switched off
//! (`set_fast_path(false)`, `--no-fast-path` on the command line), `conv2d`, `dense` and
//! `max_pool2d` run burn's own `conv2d` + ReLU, `matmul` + ReLU and `max_pool2d`, the batch-norm
//! layer burn's own `BatchNorm`, and `FusedSgd` burn's `Sgd` formulas. Both compute the same
//! function; `tests/fast_path.rs` checks outputs and gradients against each other, `tests/sgd.rs`
//! the optimizer bit for bit.

mod buffers;
mod conv_geometry;
mod conv_kernels;
mod denormals;
mod dense_kernels;
mod direct_conv;
mod halving_pool;
mod image_batch;
mod matmul;
mod norm_kernels;
mod ops;
mod patches;
mod pool_kernels;
mod same_pool;
mod sgd;
mod sgd_kernels;
mod simd;
mod streamed_product;
mod sync_batch_norm;
mod tap_conv;
#[cfg(test)]
mod test_values;
mod weight_grad;
mod window;

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::activation::relu as burn_relu;
use burn::tensor::module::batch_norm_train as burn_batch_norm_train;
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::module::max_pool2d as burn_max_pool2d;
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{DType, Tensor};

pub use conv_geometry::ConvGeometry;
pub use denormals::{flushes_denormals, set_flush_denormals};
use ops::FastOps;
pub use pool_kernels::PoolGeometry;
pub use sgd::{FusedSgd, SgdMomentum, SgdVelocity};
pub use simd::instruction_set;
pub use sync_batch_norm::{batch_norm_synced, sync_batch_norm, RankSum, SyncBatchNorm};
pub use window::window_output;

static FAST_PATH: AtomicBool = AtomicBool::new(true);

/// Turns the flex fast paths on (the default) or off for the whole process, to compare them
/// with burn's own operations.
pub fn set_fast_path(enabled: bool) {
    FAST_PATH.store(enabled, Ordering::Relaxed);
}

/// Whether the fast paths are switched on.
pub fn fast_path() -> bool {
    FAST_PATH.load(Ordering::Relaxed)
}

/// Whether a tensor will take the fast path: switched on, on the flex backend, in float32.
pub fn takes_fast_path<const D: usize>(x: &Tensor<D>) -> bool {
    fast_path()
        && x.dtype() == DType::F32
        && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// `relu(conv2d(x, weight) + bias)` (ReLU only when `relu`): a square kernel, the same stride
/// and zero padding on both axes, no dilation, one group.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
    relu: bool,
) -> Tensor<4> {
    let [_, _, kh, kw] = weight.dims();
    if takes_fast_path(&x) && kh == kw {
        fused_conv2d(x, weight, bias, stride, padding, relu)
    } else {
        reference_conv2d(x, weight, bias, stride, padding, relu)
    }
}

/// The fast path itself, whatever the switch: flex tensors in float32 only.
pub fn fused_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
    relu: bool,
) -> Tensor<4> {
    // A constant zero bias keeps one operation for both cases; it is not a parameter, so
    // autodiff never computes a gradient for it.
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    let out = <Dispatch as FastOps>::fused_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
        relu,
    );
    Tensor::from_dispatch(out)
}

/// One convolution of [`conv2d_cat`]: its input, weight, optional bias, stride and padding.
pub struct CatConv {
    pub x: Tensor<4>,
    pub weight: Tensor<4>,
    pub bias: Option<Tensor<1>>,
    pub stride: usize,
    pub padding: usize,
}

/// `leading`, then convolutions (each `relu(conv2d(x, weight) + bias)`, ReLU only when `relu`),
/// joined on channels in that order: what `Tensor::cat` of them gives. On the fast path each
/// convolution writes straight into its channels of the output instead of into a tensor of its
/// own that `cat` then copies (`FastOps::fused_conv2d_cat`; an Inception block's last step);
/// elsewhere `conv2d` each and `Tensor::cat`.
pub fn conv2d_cat(leading: Tensor<4>, convs: [CatConv; 3], relu: bool) -> Tensor<4> {
    let square = |c: &CatConv| {
        let [_, _, kh, kw] = c.weight.dims();
        kh == kw
    };
    let fast =
        takes_fast_path(&leading) && convs.iter().all(|c| takes_fast_path(&c.x) && square(c));
    if !fast {
        let mut parts = vec![leading];
        parts.extend(
            convs
                .into_iter()
                .map(|c| conv2d(c.x, c.weight, c.bias, c.stride, c.padding, relu)),
        );
        return Tensor::cat(parts, 1);
    }
    let windows = convs.each_ref().map(|c| (c.stride, c.padding));
    let [c1, c2, c3] = convs.map(|c| {
        // As in `fused_conv2d`: a constant zero bias, never a parameter.
        let bias = c
            .bias
            .unwrap_or_else(|| Tensor::zeros([c.weight.dims()[0]], &c.weight.device()));
        (
            c.x.into_dispatch(),
            c.weight.into_dispatch(),
            bias.into_dispatch(),
        )
    });
    let out = <Dispatch as FastOps>::fused_conv2d_cat(
        leading.into_dispatch(),
        c1.0,
        c1.1,
        c1.2,
        c2.0,
        c2.1,
        c2.2,
        c3.0,
        c3.1,
        c3.2,
        windows,
        relu,
    );
    Tensor::from_dispatch(out)
}

/// The same function with burn's own `conv2d` and ReLU, on any backend.
pub fn reference_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
    relu: bool,
) -> Tensor<4> {
    let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
    let y = burn_conv2d(x, weight, bias, options);
    if relu {
        burn_relu(y)
    } else {
        y
    }
}

/// A fully connected layer, `relu(x · weight + bias)` (ReLU only when `relu`): `x [m, k]`,
/// `weight [k, n]`, `bias [n]`.
pub fn dense(x: Tensor<2>, weight: Tensor<2>, bias: Tensor<1>, relu: bool) -> Tensor<2> {
    if takes_fast_path(&x) {
        fused_dense(x, weight, bias, relu)
    } else {
        reference_dense(x, weight, bias, relu)
    }
}

/// The fast path itself, whatever the switch: flex tensors in float32 only.
pub fn fused_dense(x: Tensor<2>, weight: Tensor<2>, bias: Tensor<1>, relu: bool) -> Tensor<2> {
    let out = <Dispatch as FastOps>::fused_dense(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        relu,
    );
    Tensor::from_dispatch(out)
}

/// The same layer with burn's own `matmul`, addition and ReLU, on any backend.
pub fn reference_dense(x: Tensor<2>, weight: Tensor<2>, bias: Tensor<1>, relu: bool) -> Tensor<2> {
    let y = x.matmul(weight) + bias.unsqueeze::<2>();
    if relu {
        burn_relu(y)
    } else {
        y
    }
}

/// Batch normalization of maps `[N, C, H, W]` with the batch's own statistics (training), then
/// ReLU when `relu`: the output, and the batch's mean and biased variance per channel (for the
/// running averages; constants for autodiff). The fast path itself, whatever the switch: flex
/// tensors in float32 only. `nn::batch_norm::normalize_maps` takes it after `takes_fast_path`
/// and runs burn's own `BatchNorm` otherwise (so the running averages have burn's update to be
/// checked against). While a [`sync_batch_norm`] guard lives on this thread, the statistics are
/// those of all the ranks' batches together, in the forward and the backward pass.
pub fn fused_batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    relu: bool,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let (out, mean, variance) = <Dispatch as FastOps>::fused_batch_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
        relu,
        batch_norm_synced(),
    );
    (
        Tensor::from_dispatch(out),
        Tensor::from_dispatch(mean),
        Tensor::from_dispatch(variance),
    )
}

/// The same with burn's own `batch_norm_train` and ReLU, on any backend (what
/// `fused_batch_norm_train` is tested against).
pub fn reference_batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    relu: bool,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let result = burn_batch_norm_train(x, gamma, beta, epsilon);
    let output = if relu {
        burn_relu(result.output)
    } else {
        result.output
    };
    (output, result.mean.detach(), result.variance.detach())
}

/// 2-d max pooling with a square window, the same stride and padding on both axes; padding
/// counts as minus infinity, `ceil_mode` as in PyTorch.
pub fn max_pool2d(
    x: Tensor<4>,
    kernel: usize,
    stride: usize,
    padding: usize,
    ceil_mode: bool,
) -> Tensor<4> {
    if takes_fast_path(&x) {
        fast_max_pool2d(x, kernel, stride, padding, ceil_mode)
    } else {
        reference_max_pool2d(x, kernel, stride, padding, ceil_mode)
    }
}

/// The max-pool fast path itself, whatever the switch: flex tensors in float32 only.
pub fn fast_max_pool2d(
    x: Tensor<4>,
    kernel: usize,
    stride: usize,
    padding: usize,
    ceil_mode: bool,
) -> Tensor<4> {
    let out = <Dispatch as FastOps>::fast_max_pool2d(
        x.into_dispatch(),
        kernel,
        stride,
        padding,
        ceil_mode,
    );
    Tensor::from_dispatch(out)
}

/// The same pooling with burn's `max_pool2d`, on any backend.
pub fn reference_max_pool2d(
    x: Tensor<4>,
    kernel: usize,
    stride: usize,
    padding: usize,
    ceil_mode: bool,
) -> Tensor<4> {
    let options = MaxPoolOptions {
        kernel_size: [kernel; 2],
        stride: [stride; 2],
        padding: [(padding, padding); 2],
        dilation: [1, 1],
        ceil_mode,
    };
    burn_max_pool2d(x, options)
}

/// Maps `[n, a + b + c, h, w]` cut on channels into `[n, a, h, w]`, `[n, b, h, w]` and
/// `[n, c, h, w]`: what `narrow` gives three times, with one gradient join in the backward
/// instead of three zero-filled gradients added up (`ops::FastOps::split_channels`). Every
/// piece must take part in the loss. On other backends, or with the fast path off, `narrow`.
pub fn split_channels(y: Tensor<4>, [a, b, c]: [usize; 3]) -> [Tensor<4>; 3] {
    assert_eq!(y.dims()[1], a + b + c, "the pieces cover every channel");
    if !takes_fast_path(&y) {
        return [
            y.clone().narrow(1, 0, a),
            y.clone().narrow(1, a, b),
            y.narrow(1, a + b, c),
        ];
    }
    let (p, q, r) = <Dispatch as FastOps>::split_channels(y.into_dispatch(), [a, b, c]);
    [p, q, r].map(Tensor::from_dispatch)
}
