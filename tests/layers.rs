//! The layers against hand-computed values and PyTorch's shape rules.

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor, TensorData, Tolerance};
use inception::nn::{
    window_output, AvgPool, BatchNormConfig, ConvConfig, DenseConfig, DropoutConfig, Features,
    Forward, Init, Layer, MaxPool, SequentialSpec, Sigmoid,
};

fn build(spec: SequentialSpec, input: Vec<usize>, device: &Device) -> inception::nn::Sequential {
    spec.build_network(&input, Init::XavierUniform, device, 10)
        .unwrap()
        .0
}

fn run(net: &inception::nn::Sequential, x: Features) -> Features {
    let mut ctx = Forward::for_device(&match &x {
        Features::Maps(t) => t.device(),
        Features::Flat(t) => t.device(),
    });
    net.forward(x, &mut ctx)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
fn pooling_output_sizes_follow_pytorch() {
    // floor: (len + 2p - k) / s + 1
    assert_eq!(window_output(112, 3, 2, 1, false), Some(56));
    assert_eq!(window_output(56, 3, 2, 0, false), Some(27));
    // ceil mode (article 004): ceil((len - k) / s) + 1, as long as the last window starts inside.
    assert_eq!(window_output(56, 3, 2, 0, true), Some(28));
    assert_eq!(window_output(112, 3, 2, 0, true), Some(56));
    assert_eq!(window_output(5, 2, 2, 1, true), Some(3));
    assert_eq!(window_output(2, 3, 1, 0, false), None);
}

#[test]
fn max_and_average_pooling_with_padding_and_ceil_mode() {
    let device = Device::flex();
    // 1x1x4x4 of 0..16.
    let x = Tensor::<4>::from_data(
        TensorData::new((0..16).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 4, 4]),
        &device,
    );
    let pool = |spec: SequentialSpec| {
        let net = build(spec, vec![1, 4, 4], &device);
        run(&net, Features::Maps(x.clone())).into_maps()
    };
    // Max, 3x3 stride 2 padding 1: windows centred on (0,0), (0,2), (2,0), (2,2).
    let y = pool(SequentialSpec::new().add(MaxPool::new(3, 2, 1)));
    assert_eq!(y.dims(), [1, 1, 2, 2]);
    assert_eq!(values(y), vec![5.0, 7.0, 13.0, 15.0]);
    // Max, 3x3 stride 2, ceil mode: a 2x2 output whose last windows hang over the edge.
    let y = pool(SequentialSpec::new().add(MaxPool::new(3, 2, 0).ceil()));
    assert_eq!(values(y), vec![10.0, 11.0, 14.0, 15.0]);
    // Average, 2x2 stride 2 padding 1, padding counted: corner = 0 / 4.
    let y = pool(SequentialSpec::new().add(AvgPool::new(2, 2, 1)));
    assert_eq!(y.dims(), [1, 1, 3, 3]);
    let v = values(y);
    assert_eq!(v[0], 0.0);
    assert_eq!(v[4], (5.0 + 6.0 + 9.0 + 10.0) / 4.0);
}

/// Per-channel mean and (biased) variance of maps `[N, C, H, W]`.
fn channel_moments(maps: Tensor<4>) -> (Vec<f32>, Vec<f32>) {
    let [n, c, h, w] = maps.dims();
    let v = values(maps);
    let count = (n * h * w) as f32;
    let mut means = vec![0.0f32; c];
    let mut vars = vec![0.0f32; c];
    for ch in 0..c {
        let channel: Vec<f32> = (0..n)
            .flat_map(|i| {
                let start = (i * c + ch) * h * w;
                v[start..start + h * w].to_vec()
            })
            .collect();
        let mean = channel.iter().sum::<f32>() / count;
        means[ch] = mean;
        vars[ch] = channel.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / count;
    }
    (means, vars)
}

#[test]
fn batch_norm_normalizes_every_channel_in_training_and_uses_running_statistics_in_inference() {
    let device = Device::flex().autodiff();
    let net = build(
        SequentialSpec::new().add(BatchNormConfig::default()),
        vec![3, 5, 5],
        &device,
    );
    // Channels with different means and spreads.
    let x = Tensor::<4>::random([16, 3, 5, 5], Distribution::Normal(0.0, 1.0), &device);
    let scale = Tensor::<1>::from_floats([1.0, 3.0, 0.5], &device).reshape([1, 3, 1, 1]);
    let shift = Tensor::<1>::from_floats([2.0, -4.0, 10.0], &device).reshape([1, 3, 1, 1]);
    let x = x * scale + shift;
    let (batch_means, batch_vars) = channel_moments(x.clone().inner());

    // Training: every channel's output has mean 0 and variance 1 (gamma 1, beta 0).
    let y = run(&net, Features::Maps(x.clone())).into_maps().inner();
    let (means, vars) = channel_moments(y);
    for c in 0..3 {
        assert!(means[c].abs() < 1e-4, "channel {c} mean {}", means[c]);
        // Normalized by sqrt(var + eps): the variance is var / (var + eps).
        let expected = batch_vars[c] / (batch_vars[c] + 1e-5);
        assert!(
            (vars[c] - expected).abs() < 1e-3,
            "channel {c} variance {}",
            vars[c]
        );
    }

    // Inference: the running statistics after that one step are 0.9 * (0, 1) + 0.1 * the
    // batch's (mean, variance), and the output is (x - mean) / sqrt(var + eps). burn 0.22
    // moves the running variance with the batch's biased variance (PyTorch: unbiased, a
    // factor n / (n - 1) = 400 / 399 here).
    let valid = net.valid();
    let plain = Device::flex();
    let x0 = Tensor::<4>::random([2, 3, 5, 5], Distribution::Normal(0.0, 1.0), &plain);
    let y0 = values(run(&valid, Features::Maps(x0.clone())).into_maps());
    let input = values(x0);
    for c in 0..3 {
        let mean = 0.1 * batch_means[c];
        let var = 0.9 + 0.1 * batch_vars[c];
        for i in 0..2 {
            for p in 0..25 {
                let at = (i * 3 + c) * 25 + p;
                let expected = (input[at] - mean) / (var + 1e-5).sqrt();
                assert!(
                    (y0[at] - expected).abs() < 1e-4,
                    "channel {c}: {} vs {expected}",
                    y0[at]
                );
            }
        }
    }
}

#[test]
fn batch_norm_on_vectors_after_a_dense_layer_then_sigmoid() {
    let device = Device::flex().autodiff();
    let net = build(
        SequentialSpec::new()
            .add(ConvConfig::new(4, 3).padding(1))
            .add(BatchNormConfig::default())
            .add(DenseConfig::new(6))
            .add(BatchNormConfig::default())
            .add(Sigmoid::default()),
        vec![2, 5, 5],
        &device,
    );
    let x = Tensor::<4>::random([16, 2, 5, 5], Distribution::Normal(3.0, 2.0), &device);
    let y = run(&net, Features::Maps(x)).into_flat();
    assert_eq!(y.dims(), [16, 6]);
    // sigmoid of a batch-normalized feature: in (0, 1) with mean 0.5 (sigmoid is odd about 0).
    let v = values(y.inner());
    assert!(v.iter().all(|&v| v > 0.0 && v < 1.0));
    for f in 0..6 {
        let mean = (0..16).map(|i| v[i * 6 + f]).sum::<f32>() / 16.0;
        assert!((mean - 0.5).abs() < 0.1, "feature {f} mean {mean}");
    }
}

#[test]
fn dropout_is_inactive_in_inference() {
    let device = Device::flex();
    let net = build(
        SequentialSpec::new().add(DropoutConfig::new(0.5)),
        vec![10],
        &device,
    );
    let x = Tensor::<2>::ones([4, 10], &device);
    assert_eq!(
        run(&net, Features::Flat(x.clone())).into_flat().into_data(),
        x.into_data()
    );
    let err = SequentialSpec::new()
        .add(DropoutConfig::new(1.5))
        .build_network(&vec![10], Init::XavierUniform, &device, 10)
        .unwrap_err();
    assert!(err.to_string().contains("outside [0, 1)"), "{err}");
}

#[test]
fn dense_layer_computes_x_w_plus_b() {
    let device = Device::flex();
    let net = build(
        SequentialSpec::new().add(DenseConfig::new(2)),
        vec![3],
        &device,
    );
    let dense = net
        .layer(0)
        .unwrap()
        .downcast_ref::<inception::nn::Dense>()
        .unwrap();
    let w = values(dense.weight.val());
    let x = [1.0f32, 2.0, 3.0];
    let y = values(
        run(
            &net,
            Features::Flat(Tensor::from_data(
                TensorData::new(x.to_vec(), [1, 3]),
                &device,
            )),
        )
        .into_flat(),
    );
    for j in 0..2 {
        let expected: f32 = (0..3).map(|i| x[i] * w[i * 2 + j]).sum();
        assert!((y[j] - expected).abs() < 1e-5);
    }
    assert_eq!(dense.output_shape(&vec![3]), Ok(vec![2]));
    assert!(dense.output_shape(&vec![4]).is_err());
    let _ = Tolerance::<f32>::default();
}
