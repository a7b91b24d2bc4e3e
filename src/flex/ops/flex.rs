//! `FastOps` on the flex backend: each operation reads its tensors in place where their layout
//! allows (`ImageRows`), picks its kernel and wraps the result as a flex tensor.

use burn::backend::Flex;
use burn::tensor::{DType, TensorData};
use burn_backend::ops::FloatTensorOps;
use burn_backend::Slice;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::FastOps;
use crate::flex::buffers::{assume_written, unwritten};
use crate::flex::conv_geometry::ConvGeometry;
use crate::flex::conv_kernels;
use crate::flex::dense_kernels;
use crate::flex::direct_conv;
use crate::flex::halving_pool;
use crate::flex::image_batch::{written, Batch, BatchMut};
use crate::flex::norm_kernels::{self, NormGeometry};
use crate::flex::pool_kernels::{self, PoolGeometry};
use crate::flex::same_pool;
use crate::flex::sgd_kernels::{self, SgdStep, Velocity};
use crate::flex::sync_batch_norm;

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

/// `relu(conv2d(x, weight) + bias)` (or without the ReLU) written into `out`, by the kernel
/// that takes the geometry: the direct one for first layers (`direct_conv`), else im2col + GEMM
/// or taps (`conv_kernels`).
fn convolve_into(
    g: &ConvGeometry,
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    relu: bool,
    out: BatchMut,
) {
    let (weight, bias) = (contiguous(weight), contiguous(bias));
    let x = ImageRows::new(x);
    let (weight, bias) = (values(&weight), values(&bias));
    if direct_conv::applies(g) {
        direct_conv::forward_into(g, x.batch(), weight, bias, relu, out);
    } else {
        conv_kernels::forward_into(g, x.batch(), weight, bias, relu, out);
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
        let write = |out: BatchMut| convolve_into(&g, x, weight, bias, relu, out);
        // SAFETY: `convolve_into` writes every value of every image it is handed.
        let out = unsafe { written(g.batch, g.out_item(), write) };
        flex(out, vec![g.batch, g.c_out, oh, ow])
    }

    fn fused_conv2d_cat(
        leading: FlexTensor,
        x1: FlexTensor,
        weight1: FlexTensor,
        bias1: FlexTensor,
        x2: FlexTensor,
        weight2: FlexTensor,
        bias2: FlexTensor,
        x3: FlexTensor,
        weight3: FlexTensor,
        bias3: FlexTensor,
        windows: [(usize, usize); 3],
        relu: bool,
    ) -> FlexTensor {
        let (xs, weights, biases) = (
            [x1, x2, x3],
            [weight1, weight2, weight3],
            [bias1, bias2, bias3],
        );
        let geometries: Vec<ConvGeometry> = xs
            .iter()
            .zip(&weights)
            .zip(&windows)
            .map(|((x, w), &(stride, padding))| geometry(x, w, stride, padding))
            .collect();
        let leading = ImageRows::new(leading);
        let maps = std::iter::once(dims4(&leading.tensor)).chain(geometries.iter().map(|g| {
            let (oh, ow) = g.output_size().expect("the window fits the input");
            [g.batch, g.c_out, oh, ow]
        }));
        let maps: Vec<[usize; 4]> = maps.collect();
        let [n, _, oh, ow] = *maps.first().expect("something to join");
        assert!(
            maps.iter().all(|&[b, _, h, w]| (b, h, w) == (n, oh, ow)),
            "joined maps differ in batch or size: {maps:?}"
        );
        let plane = oh * ow;
        let channels: usize = maps.iter().map(|m| m[1]).sum();
        let stride = channels * plane;
        let mut out = unwritten(n * stride);

        // The leading map: one pass over the images, in parallel.
        let source = leading.batch();
        let mut offset = source.dims().1;
        out.par_chunks_mut(stride)
            .enumerate()
            .for_each(|(i, image)| {
                for (d, &v) in image[..offset].iter_mut().zip(source.item(i)) {
                    d.write(v);
                }
            });

        // Each convolution into its channels.
        for (((g, x), weight), bias) in geometries.iter().zip(xs).zip(weights).zip(biases) {
            let item = g.out_item();
            let span = (n - 1) * stride + item;
            let dst = BatchMut::strided(&mut out[offset..][..span], stride, item, n);
            convolve_into(g, x, weight, bias, relu, dst);
            offset += item;
        }
        // SAFETY: each image's `channels * plane` values are the leading map's (written by the
        // first pass) followed by each convolution's `c_out * plane` (written by it), in order.
        let out = unsafe { assume_written(out) };
        flex(out, vec![n, channels, oh, ow])
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
        let weight = contiguous(weight);
        let [x, output, grad_output] = [x, output, grad_output].map(ImageRows::new);
        let grads = conv_kernels::backward(
            &g,
            x.batch(),
            values(&weight),
            output.batch(),
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
        let out = if same_pool::applies(&g) {
            same_pool::same_max_pool(&g, values(&x))
        } else if halving_pool::applies(&g) {
            halving_pool::halving_max_pool(&g, values(&x))
        } else {
            pool_kernels::max_pool(&g, values(&x))
        };
        flex(out, vec![n, c, oh, ow])
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
