//! `FastOps` under autodiff: each operation runs the inner backend's forward and registers a
//! handwritten backward (burn-autodiff's `Backward`), which calls the inner backend's backward
//! operation and hands each tracked parent its gradient.

use std::sync::{Arc, Mutex};

use burn::backend::{tensor::FloatTensor, AutodiffBackend, Backend};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_autodiff::Autodiff;
use burn_autodiff::NodeId;
use burn_backend::Slice;
use burn_backend::TensorMetadata;

use super::FastOps;
use crate::flex::sgd_kernels::SgdStep;

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

    /// The forward pass writes each convolution into its channels of the joined output; the
    /// backward pass hands `leading` its channels of the gradient and runs each convolution's
    /// backward on its channels of the gradient and of the output (its ReLU mask), all read in
    /// place.
    fn fused_conv2d_cat(
        leading: AdTensor<B, C>,
        x1: AdTensor<B, C>,
        weight1: AdTensor<B, C>,
        bias1: AdTensor<B, C>,
        x2: AdTensor<B, C>,
        weight2: AdTensor<B, C>,
        bias2: AdTensor<B, C>,
        x3: AdTensor<B, C>,
        weight3: AdTensor<B, C>,
        bias3: AdTensor<B, C>,
        windows: [(usize, usize); 3],
        relu: bool,
    ) -> AdTensor<B, C> {
        #[derive(Debug)]
        struct FusedConv2dCat;

        /// The convolutions' inputs and weights, the joined output, the channels of
        /// `leading` and of each convolution, the windows and the ReLU.
        type State<B> = (
            [FloatTensor<B>; 3],
            [FloatTensor<B>; 3],
            FloatTensor<B>,
            [usize; 4],
            [(usize, usize); 3],
            bool,
        );

        impl<B: Backend + FastOps> Backward<B, 10> for FusedConv2dCat {
            type State = State<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 10>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_leading, convs @ ..] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (xs, weights, output, channels, windows, relu) = ops.state;
                let channel_slice = |t: &FloatTensor<B>, start: usize, len: usize| {
                    let [n, _, h, w] = t.shape().dims::<4>();
                    let ranges = [0..n, start..start + len, 0..h, 0..w].map(Slice::from);
                    B::float_slice(t.clone(), &ranges)
                };
                if let Some(node) = node_leading {
                    grads.register::<B>(node.id, channel_slice(&grad, 0, channels[0]));
                }
                let starts = [0, 1, 2].map(|i| channels[..=i].iter().sum::<usize>());
                let nodes = convs.chunks_exact(3);
                let each = xs.into_iter().zip(weights).zip(windows).zip(nodes);
                // Last to first, as burn's graph runs the backward of three separate
                // convolutions: an input they share sums their gradients in the same order.
                let each = each.enumerate().collect::<Vec<_>>().into_iter().rev();
                for (i, (((x, weight), (stride, padding)), nodes)) in each {
                    let (start, len) = (starts[i], channels[i + 1]);
                    let (grad_x, grad_w, grad_b) = B::fused_conv2d_backward(
                        x,
                        weight,
                        channel_slice(&output, start, len),
                        channel_slice(&grad, start, len),
                        stride,
                        padding,
                        relu,
                        nodes[0].is_some(),
                    );
                    register::<B, 3>(
                        grads,
                        [0, 1, 2].map(|k| nodes[k].as_ref().map(|n| n.id)),
                        [grad_x, grad_w, grad_b],
                    );
                }
            }
        }

        let parents = [
            &leading, &x1, &weight1, &bias1, &x2, &weight2, &bias2, &x3, &weight3, &bias3,
        ]
        .map(|t| t.node());
        let leading = leading.into_primitive();
        let xs = [x1, x2, x3].map(|t| t.into_primitive());
        let weights = [weight1, weight2, weight3].map(|t| t.into_primitive());
        let biases = [bias1, bias2, bias3].map(|t| t.into_primitive());
        let channels = [
            leading.shape().dims::<4>()[1],
            weights[0].shape().dims::<4>()[0],
            weights[1].shape().dims::<4>()[0],
            weights[2].shape().dims::<4>()[0],
        ];
        let forward = |xs: [FloatTensor<B>; 3], weights: [FloatTensor<B>; 3]| {
            let [x1, x2, x3] = xs;
            let [weight1, weight2, weight3] = weights;
            let [bias1, bias2, bias3] = biases;
            B::fused_conv2d_cat(
                leading, x1, weight1, bias1, x2, weight2, bias2, x3, weight3, bias3, windows, relu,
            )
        };
        match FusedConv2dCat
            .prepare::<C>(parents)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = forward(xs.clone(), weights.clone());
                let state = (xs, weights, out.clone(), channels, windows, relu);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(xs, weights)),
        }
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
