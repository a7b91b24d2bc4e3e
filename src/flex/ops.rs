//! The fast operations as a burn backend extension: implemented for the flex backend by
//! `conv_kernels`, `norm_kernels` and `pool_kernels`, and for `Autodiff<flex>` with handwritten
//! backward passes (the convolution's computes all three gradients in one pass, where burn's
//! generic backward runs three separate operations).
//!
//! The `#[backend_extension]` pattern follows burn's own `burn-signal` crate.

use std::sync::{Arc, Mutex};

use burn::backend::{backend_extension, tensor::FloatTensor, AutodiffBackend, Backend, Flex};
use burn::tensor::{DType, TensorData};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_autodiff::Autodiff;
use burn_autodiff::NodeId;
use burn_backend::ops::FloatTensorOps;
use burn_backend::{Slice, TensorMetadata};
use burn_flex::FlexTensor;

use super::conv_kernels::{self, ConvGeometry};
use super::dense_kernels;
use super::direct_conv;
use super::image_batch::Batch;
use super::norm_kernels::{self, NormGeometry};
use super::pool_kernels::{self, PoolGeometry};
use super::sgd_kernels::{self, SgdStep, Velocity};
use super::sync_batch_norm;

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

/// A flex tensor in logical (row-major) order: itself when its layout already is, else a copy.
fn contiguous(t: FlexTensor) -> FlexTensor {
    assert_eq!(t.dtype(), DType::F32, "the fast path runs in float32");
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The values of a contiguous float32 tensor.
fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous float32 tensor")
}

/// The values of a float32 tensor to update in place: its own storage when it is contiguous
/// from the start and not shared, else a copy (flex's copy on write).
fn values_mut(t: &mut FlexTensor) -> &mut [f32] {
    assert_eq!(t.dtype(), DType::F32, "the fast path runs in float32");
    if !matches!(t.layout().contiguous_offsets(), Some((0, _))) {
        *t = t.to_contiguous();
    }
    let len = t.layout().num_elements();
    &mut t.storage_mut::<f32>()[..len]
}

/// A 4-d float32 tensor whose images are each contiguous, read in place: where its first image
/// starts in the storage and how far apart images are. A whole contiguous tensor qualifies, and
/// so does a channel slice of one (what `cat`'s backward hands each input); anything else is
/// copied first.
struct ImageRows {
    tensor: FlexTensor,
    start: usize,
    stride: usize,
}

impl ImageRows {
    fn new(t: FlexTensor) -> Self {
        assert_eq!(t.dtype(), DType::F32, "the fast path runs in float32");
        let [_, c, h, w] = dims4(&t);
        let layout = t.layout();
        let inner = [(h * w) as isize, w as isize, 1];
        let in_place = layout.strides()[1..] == inner
            && layout.strides()[0] >= (c * h * w) as isize
            && t.storage::<f32>().len() >= layout.start_offset() + layout.num_elements();
        if in_place {
            let (start, stride) = (layout.start_offset(), layout.strides()[0] as usize);
            return Self {
                tensor: t,
                start,
                stride,
            };
        }
        let tensor = t.to_contiguous();
        Self {
            stride: c * h * w,
            start: 0,
            tensor,
        }
    }

    fn batch(&self) -> Batch<'_> {
        let [n, c, h, w] = dims4(&self.tensor);
        let data = &self.tensor.storage::<f32>()[self.start..];
        Batch::strided(data, self.stride, c * h * w, n)
    }
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn geometry(x: &FlexTensor, weight: &FlexTensor, stride: usize, padding: usize) -> ConvGeometry {
    let [batch, c_in, h, w] = dims4(x);
    let [c_out, w_in, kh, kw] = dims4(weight);
    assert_eq!(c_in, w_in, "weight input channels");
    assert_eq!(kh, kw, "square kernels only");
    ConvGeometry {
        batch,
        c_in,
        h,
        w,
        c_out,
        kernel: kh,
        stride,
        padding,
    }
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let dims = t.layout().shape().to_vec();
    dims.try_into().expect("a 4-d tensor")
}

/// `(m, k, n)` of a fully connected layer: input `[m, k]`, weight `[k, n]`.
fn dense_sizes(x: &FlexTensor, weight: &FlexTensor) -> (usize, usize, usize) {
    let [m, k]: [usize; 2] = x.layout().shape().to_vec().try_into().expect("a 2-d input");
    let [k2, n]: [usize; 2] = weight
        .layout()
        .shape()
        .to_vec()
        .try_into()
        .expect("a 2-d weight");
    assert_eq!(k, k2, "the input's width is the weight's height");
    (m, k, n)
}

impl FastOps for Flex {
    fn fused_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        padding: usize,
        relu: bool,
    ) -> FlexTensor {
        let g = geometry(&x, &weight, stride, padding);
        let (oh, ow) = g.output_size().expect("the window fits the input");
        let (weight, bias) = (contiguous(weight), contiguous(bias));
        let x = ImageRows::new(x);
        let (weight, bias) = (values(&weight), values(&bias));
        let out = if direct_conv::applies(&g) {
            direct_conv::forward(&g, x.batch(), weight, bias, relu)
        } else {
            conv_kernels::forward(&g, x.batch(), weight, bias, relu)
        };
        flex(out, vec![g.batch, g.c_out, oh, ow])
    }

    fn fused_conv2d_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output: FlexTensor,
        grad_output: FlexTensor,
        stride: usize,
        padding: usize,
        relu: bool,
        need_x: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let g = geometry(&x, &weight, stride, padding);
        let (weight, output) = (contiguous(weight), contiguous(output));
        let (x, grad_output) = (ImageRows::new(x), ImageRows::new(grad_output));
        let grads = conv_kernels::backward(
            &g,
            x.batch(),
            values(&weight),
            values(&output),
            grad_output.batch(),
            relu,
            need_x,
        );
        let grad_x = match grads.x {
            Some(gx) => flex(gx, vec![g.batch, g.c_in, g.h, g.w]),
            None => flex(Vec::new(), vec![0]),
        };
        let k = g.kernel;
        (
            grad_x,
            flex(grads.weight, vec![g.c_out, g.c_in, k, k]),
            flex(grads.bias, vec![g.c_out]),
        )
    }

    fn fused_dense(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, relu: bool) -> FlexTensor {
        let sizes = dense_sizes(&x, &weight);
        let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
        let y = dense_kernels::forward(values(&x), values(&weight), values(&bias), sizes, relu);
        flex(y, vec![sizes.0, sizes.2])
    }

    fn fused_dense_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output: FlexTensor,
        grad_output: FlexTensor,
        relu: bool,
        need_x: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (m, k, n) = dense_sizes(&x, &weight);
        let [x, weight, output, grad_output] = [x, weight, output, grad_output].map(contiguous);
        let grads = dense_kernels::backward(
            values(&x),
            values(&weight),
            values(&output),
            values(&grad_output),
            (m, k, n),
            relu,
            need_x,
        );
        let grad_x = match grads.x {
            Some(gx) => flex(gx, vec![m, k]),
            None => flex(Vec::new(), vec![0]),
        };
        (
            grad_x,
            flex(grads.weight, vec![k, n]),
            flex(grads.bias, vec![n]),
        )
    }

    fn fused_batch_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
        across_ranks: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let g = norm_geometry(&x);
        let (gamma, beta) = (contiguous(gamma), contiguous(beta));
        let x = ImageRows::new(x);
        let out = sync_batch_norm::with_ranks(across_ranks, |across| {
            let (gamma, beta) = (values(&gamma), values(&beta));
            norm_kernels::forward(&g, x.batch(), gamma, beta, epsilon, relu, across)
        });
        (
            flex(out.output, dims4(&x.tensor).to_vec()),
            flex(out.mean, vec![g.channels]),
            flex(out.variance, vec![g.channels]),
        )
    }

    fn fused_batch_norm_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        output: FlexTensor,
        grad_output: FlexTensor,
        epsilon: f64,
        relu: bool,
        across_ranks: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let g = norm_geometry(&x);
        let shape = dims4(&x).to_vec();
        let (gamma, mean, variance, output) = (
            contiguous(gamma),
            contiguous(mean),
            contiguous(variance),
            contiguous(output),
        );
        let (x, grad_output) = (ImageRows::new(x), ImageRows::new(grad_output));
        let grads = sync_batch_norm::with_ranks(across_ranks, |across| {
            norm_kernels::backward(
                &g,
                x.batch(),
                values(&gamma),
                values(&mean),
                values(&variance),
                epsilon,
                values(&output),
                grad_output.batch(),
                relu,
                across,
            )
        });
        (
            flex(grads.x, shape),
            flex(grads.gamma, vec![g.channels]),
            flex(grads.beta, vec![g.channels]),
        )
    }

    fn split_channels(y: FlexTensor, sizes: [usize; 3]) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [n, c, h, w] = dims4(&y);
        assert_eq!(
            sizes.iter().sum::<usize>(),
            c,
            "the pieces cover every channel"
        );
        let piece = |start: usize, len: usize| {
            let ranges = [0..n, start..start + len, 0..h, 0..w].map(Slice::from);
            <Flex as FloatTensorOps<Flex>>::float_slice(y.clone(), &ranges)
        };
        let [a, b, c] = sizes;
        (piece(0, a), piece(a, b), piece(a + b, c))
    }

    fn fast_max_pool2d(
        x: FlexTensor,
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> FlexTensor {
        let [n, c, h, w] = dims4(&x);
        let g = pool_geometry([n, c, h, w], kernel, stride, padding, ceil_mode);
        let (oh, ow) = g.output_size().expect("the window fits the input");
        let x = contiguous(x);
        flex(pool_kernels::max_pool(&g, values(&x)), vec![n, c, oh, ow])
    }

    fn fast_max_pool2d_with_taps(
        x: FlexTensor,
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> (FlexTensor, FlexTensor) {
        let [n, c, h, w] = dims4(&x);
        let g = pool_geometry([n, c, h, w], kernel, stride, padding, ceil_mode);
        let (oh, ow) = g.output_size().expect("the window fits the input");
        let x = contiguous(x);
        let (out, taps) = pool_kernels::max_pool_with_taps(&g, values(&x));
        let shape = vec![n, c, oh, ow];
        (flex(out, shape.clone()), flex(taps, shape))
    }

    fn fast_max_pool2d_backward(
        taps: FlexTensor,
        grad_output: FlexTensor,
        [h, w]: [usize; 2],
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> FlexTensor {
        let [n, c, _, _] = dims4(&taps);
        let g = pool_geometry([n, c, h, w], kernel, stride, padding, ceil_mode);
        let (taps, grad_output) = (contiguous(taps), contiguous(grad_output));
        let grad = pool_kernels::max_pool_backward(&g, values(&taps), values(&grad_output));
        flex(grad, vec![n, c, h, w])
    }

    fn sgd_step(
        mut weight: FlexTensor,
        grad: FlexTensor,
        mut velocity: FlexTensor,
        rule: SgdStep,
    ) -> (FlexTensor, FlexTensor) {
        let grad = contiguous(grad);
        if rule.momentum.is_none() {
            sgd_kernels::step(
                &rule,
                values_mut(&mut weight),
                values(&grad),
                Velocity::None,
            );
            return (weight, flex(Vec::new(), vec![0]));
        }
        let start = velocity.layout().num_elements() == 0;
        if start {
            velocity = FlexTensor::zeros(weight.layout().shape().clone(), DType::F32);
        }
        let v = values_mut(&mut velocity);
        let v = if start {
            Velocity::Start(v)
        } else {
            Velocity::Continue(v)
        };
        sgd_kernels::step(&rule, values_mut(&mut weight), values(&grad), v);
        (weight, velocity)
    }
}

fn norm_geometry(x: &FlexTensor) -> NormGeometry {
    let [batch, channels, h, w] = dims4(x);
    NormGeometry {
        batch,
        channels,
        plane: h * w,
    }
}

/// Pooling of an input `[n, c, h, w]`.
fn pool_geometry(
    [n, c, h, w]: [usize; 4],
    kernel: usize,
    stride: usize,
    padding: usize,
    ceil_mode: bool,
) -> PoolGeometry {
    PoolGeometry {
        planes: n * c,
        h,
        w,
        kernel,
        stride,
        padding,
        ceil_mode,
    }
}

type AdTensor<B, C> = FloatTensor<Autodiff<B, C>>;

/// Hands each parent that takes part in the graph its gradient.
fn register<B: Backend, const N: usize>(
    grads: &mut Gradients,
    parents: [Option<NodeId>; N],
    values: [FloatTensor<B>; N],
) {
    for (node, value) in parents.into_iter().zip(values) {
        if let Some(id) = node {
            grads.register::<B>(id, value);
        }
    }
}

impl<B: Backend + FastOps, C: CheckpointStrategy> FastOps for Autodiff<B, C> {
    fn fused_conv2d(
        x: AdTensor<B, C>,
        weight: AdTensor<B, C>,
        bias: AdTensor<B, C>,
        stride: usize,
        padding: usize,
        relu: bool,
    ) -> AdTensor<B, C> {
        #[derive(Debug)]
        struct FusedConv2d;

        /// The input and weight (for the weight and input gradients), the output (its zeros
        /// are the ReLU mask) and the hyper-parameters.
        type State<B> = (
            FloatTensor<B>,
            FloatTensor<B>,
            FloatTensor<B>,
            usize,
            usize,
            bool,
        );

        impl<B: Backend + FastOps> Backward<B, 3> for FusedConv2d {
            type State = State<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, weight, output, stride, padding, relu) = ops.state;
                let (grad_x, grad_w, grad_b) = B::fused_conv2d_backward(
                    x,
                    weight,
                    output,
                    grad,
                    stride,
                    padding,
                    relu,
                    node_x.is_some(),
                );
                register::<B, 3>(
                    grads,
                    [node_x, node_weight, node_bias].map(|n| n.map(|n| n.id)),
                    [grad_x, grad_w, grad_b],
                );
            }
        }

        let parents = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        match FusedConv2d.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::fused_conv2d(x.clone(), weight.clone(), bias, stride, padding, relu);
                prep.finish((x, weight, out.clone(), stride, padding, relu), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::fused_conv2d(x, weight, bias, stride, padding, relu))
            }
        }
    }

    /// The backward pass itself is not differentiated again (no second-order gradients): its
    /// results are constants of the graph.
    fn fused_conv2d_backward(
        x: AdTensor<B, C>,
        weight: AdTensor<B, C>,
        output: AdTensor<B, C>,
        grad_output: AdTensor<B, C>,
        stride: usize,
        padding: usize,
        relu: bool,
        need_x: bool,
    ) -> (AdTensor<B, C>, AdTensor<B, C>, AdTensor<B, C>) {
        let (gx, gw, gb) = B::fused_conv2d_backward(
            x.into_primitive(),
            weight.into_primitive(),
            output.into_primitive(),
            grad_output.into_primitive(),
            stride,
            padding,
            relu,
            need_x,
        );
        (
            Self::from_inner(gx),
            Self::from_inner(gw),
            Self::from_inner(gb),
        )
    }

    fn fused_dense(
        x: AdTensor<B, C>,
        weight: AdTensor<B, C>,
        bias: AdTensor<B, C>,
        relu: bool,
    ) -> AdTensor<B, C> {
        #[derive(Debug)]
        struct FusedDense;

        /// The input and weight (for the weight and input gradients), the output (its zeros
        /// are the ReLU mask) and whether there is a ReLU.
        type State<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, bool);

        impl<B: Backend + FastOps> Backward<B, 3> for FusedDense {
            type State = State<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, weight, output, relu) = ops.state;
                let need_x = node_x.is_some();
                let (grad_x, grad_w, grad_b) =
                    B::fused_dense_backward(x, weight, output, grad, relu, need_x);
                register::<B, 3>(
                    grads,
                    [node_x, node_weight, node_bias].map(|n| n.map(|n| n.id)),
                    [grad_x, grad_w, grad_b],
                );
            }
        }

        let parents = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        match FusedDense.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::fused_dense(x.clone(), weight.clone(), bias, relu);
                prep.finish((x, weight, out.clone(), relu), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_dense(x, weight, bias, relu)),
        }
    }

    /// Not differentiated again, as `fused_conv2d_backward`.
    fn fused_dense_backward(
        x: AdTensor<B, C>,
        weight: AdTensor<B, C>,
        output: AdTensor<B, C>,
        grad_output: AdTensor<B, C>,
        relu: bool,
        need_x: bool,
    ) -> (AdTensor<B, C>, AdTensor<B, C>, AdTensor<B, C>) {
        let (gx, gw, gb) = B::fused_dense_backward(
            x.into_primitive(),
            weight.into_primitive(),
            output.into_primitive(),
            grad_output.into_primitive(),
            relu,
            need_x,
        );
        (
            Self::from_inner(gx),
            Self::from_inner(gw),
            Self::from_inner(gb),
        )
    }

    fn fused_batch_norm(
        x: AdTensor<B, C>,
        gamma: AdTensor<B, C>,
        beta: AdTensor<B, C>,
        epsilon: f64,
        relu: bool,
        across_ranks: bool,
    ) -> (AdTensor<B, C>, AdTensor<B, C>, AdTensor<B, C>) {
        #[derive(Debug)]
        struct FusedBatchNorm;

        /// The input, gamma, the batch statistics, the output (its zeros are the ReLU mask),
        /// epsilon, whether the ReLU is on and whether the statistics are all ranks'.
        type State<B> = (
            FloatTensor<B>,
            FloatTensor<B>,
            FloatTensor<B>,
            FloatTensor<B>,
            FloatTensor<B>,
            f64,
            bool,
            bool,
        );

        impl<B: Backend + FastOps> Backward<B, 3> for FusedBatchNorm {
            type State = State<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, gamma, mean, variance, output, epsilon, relu, across) = ops.state;
                let (grad_x, grad_gamma, grad_beta) = B::fused_batch_norm_backward(
                    x, gamma, mean, variance, output, grad, epsilon, relu, across,
                );
                register::<B, 3>(
                    grads,
                    [node_x, node_gamma, node_beta].map(|n| n.map(|n| n.id)),
                    [grad_x, grad_gamma, grad_beta],
                );
            }
        }

        let parents = [x.node(), gamma.node(), beta.node()];
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        // The statistics are results, not functions of the graph: constants for autodiff.
        match FusedBatchNorm
            .prepare::<C>(parents)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, mean, variance) = B::fused_batch_norm(
                    x.clone(),
                    gamma.clone(),
                    beta,
                    epsilon,
                    relu,
                    across_ranks,
                );
                let state = (
                    x,
                    gamma,
                    mean.clone(),
                    variance.clone(),
                    out.clone(),
                    epsilon,
                    relu,
                    across_ranks,
                );
                (
                    prep.finish(state, out),
                    Self::from_inner(mean),
                    Self::from_inner(variance),
                )
            }
            OpsKind::UnTracked(prep) => {
                let (out, mean, variance) =
                    B::fused_batch_norm(x, gamma, beta, epsilon, relu, across_ranks);
                (
                    prep.finish(out),
                    Self::from_inner(mean),
                    Self::from_inner(variance),
                )
            }
        }
    }

    /// Not differentiated again: its results are constants of the graph.
    fn fused_batch_norm_backward(
        x: AdTensor<B, C>,
        gamma: AdTensor<B, C>,
        mean: AdTensor<B, C>,
        variance: AdTensor<B, C>,
        output: AdTensor<B, C>,
        grad_output: AdTensor<B, C>,
        epsilon: f64,
        relu: bool,
        across_ranks: bool,
    ) -> (AdTensor<B, C>, AdTensor<B, C>, AdTensor<B, C>) {
        let (gx, gg, gb) = B::fused_batch_norm_backward(
            x.into_primitive(),
            gamma.into_primitive(),
            mean.into_primitive(),
            variance.into_primitive(),
            output.into_primitive(),
            grad_output.into_primitive(),
            epsilon,
            relu,
            across_ranks,
        );
        (
            Self::from_inner(gx),
            Self::from_inner(gg),
            Self::from_inner(gb),
        )
    }

    fn split_channels(
        y: AdTensor<B, C>,
        sizes: [usize; 3],
    ) -> (AdTensor<B, C>, AdTensor<B, C>, AdTensor<B, C>) {
        /// One piece of the split; the three share what has arrived of their gradients.
        #[derive(Debug)]
        struct Piece;

        /// The gradients of the three pieces, in channel order, as they arrive.
        type Arrived<B> = Arc<Mutex<[Option<FloatTensor<B>>; 3]>>;

        impl<B: Backend + FastOps> Backward<B, 1> for Piece {
            /// Which piece this is, and the shared gradients.
            type State = (usize, Arrived<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_y] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (index, arrived) = ops.state;
                let mut arrived = arrived.lock().expect("a split's gradients");
                arrived[index] = Some(grad);
                if let (Some(node), true) = (node_y, arrived.iter().all(Option::is_some)) {
                    let pieces = arrived.iter_mut().filter_map(Option::take).collect();
                    grads.register::<B>(node.id, B::float_cat(pieces, 1));
                }
            }
        }

        let nodes = [y.node(), y.node(), y.node()];
        let (a, b, c) = B::split_channels(y.into_primitive(), sizes);
        let arrived: Arrived<B> = Arc::new(Mutex::new([None, None, None]));
        let [na, nb, nc] = nodes;
        let track = |index: usize, node, piece: FloatTensor<B>| match Piece
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((index, arrived.clone()), piece),
            OpsKind::UnTracked(prep) => prep.finish(piece),
        };
        (track(0, na, a), track(1, nb, b), track(2, nc, c))
    }

    fn fast_max_pool2d(
        x: AdTensor<B, C>,
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> AdTensor<B, C> {
        #[derive(Debug)]
        struct FastMaxPool2d;

        /// Which tap holds each window's maximum, the input's height and width, and the
        /// hyper-parameters.
        type State<B> = (FloatTensor<B>, [usize; 2], usize, usize, usize, bool);

        impl<B: Backend + FastOps> Backward<B, 1> for FastMaxPool2d {
            type State = State<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (taps, input_size, kernel, stride, padding, ceil_mode) = ops.state;
                if let Some(node) = node_x {
                    let grad_x = B::fast_max_pool2d_backward(
                        taps, grad, input_size, kernel, stride, padding, ceil_mode,
                    );
                    grads.register::<B>(node.id, grad_x);
                }
            }
        }

        let parents = [x.node()];
        let x = x.into_primitive();
        match FastMaxPool2d
            .prepare::<C>(parents)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let [_, _, h, w] = x.shape().dims::<4>();
                let (out, taps) =
                    B::fast_max_pool2d_with_taps(x, kernel, stride, padding, ceil_mode);
                prep.finish((taps, [h, w], kernel, stride, padding, ceil_mode), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::fast_max_pool2d(x, kernel, stride, padding, ceil_mode))
            }
        }
    }

    /// Not differentiated: the taps are an integer-valued result, constant for the graph.
    fn fast_max_pool2d_with_taps(
        x: AdTensor<B, C>,
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> (AdTensor<B, C>, AdTensor<B, C>) {
        let (out, taps) =
            B::fast_max_pool2d_with_taps(x.into_primitive(), kernel, stride, padding, ceil_mode);
        (Self::from_inner(out), Self::from_inner(taps))
    }

    /// Not differentiated again: its result is a constant of the graph.
    fn fast_max_pool2d_backward(
        taps: AdTensor<B, C>,
        grad_output: AdTensor<B, C>,
        input_size: [usize; 2],
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> AdTensor<B, C> {
        Self::from_inner(B::fast_max_pool2d_backward(
            taps.into_primitive(),
            grad_output.into_primitive(),
            input_size,
            kernel,
            stride,
            padding,
            ceil_mode,
        ))
    }

    /// Not differentiated: an optimizer's update of a parameter's values.
    fn sgd_step(
        weight: AdTensor<B, C>,
        grad: AdTensor<B, C>,
        velocity: AdTensor<B, C>,
        rule: SgdStep,
    ) -> (AdTensor<B, C>, AdTensor<B, C>) {
        let (weight, velocity) = B::sgd_step(
            weight.into_primitive(),
            grad.into_primitive(),
            velocity.into_primitive(),
            rule,
        );
        (Self::from_inner(weight), Self::from_inner(velocity))
    }
}
