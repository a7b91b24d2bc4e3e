//! The layers against hand-computed values and PyTorch's shape rules.

use burn::tensor::{Device, Tensor, TensorData, Tolerance};
use inception::nn::layers::window_output;
use inception::nn::{ConvSpec, DenseSpec, Features, Init, LayerSpec, Pool, SequentialSpec};

fn build(spec: SequentialSpec, input: Vec<usize>, device: &Device) -> inception::nn::Sequential {
    spec.build(&input, Init::XavierUniform, device).unwrap().0
}

#[test]
fn pooling_output_sizes_follow_pytorch() {
    // floor: (len + 2p - k) / s + 1
    assert_eq!(window_output(112, 3, 2, 1, false), Some(56));
    assert_eq!(window_output(56, 3, 2, 0, false), Some(27));
    // ceil mode (seed 004): ceil((len - k) / s) + 1, as long as the last window starts inside.
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
    let run = |pool: Pool| {
        let net = build(
            SequentialSpec::new().add(LayerSpec::Pool(pool)),
            vec![1, 4, 4],
            &device,
        );
        net.forward(Features::Maps(x.clone())).into_maps()
    };
    // Max, 3x3 stride 2 padding 1: windows centred on (0,0), (0,2), (2,0), (2,2).
    let y = run(Pool::max(3, 2, 1));
    assert_eq!(y.dims(), [1, 1, 2, 2]);
    assert_eq!(
        y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap(),
        vec![5.0, 7.0, 13.0, 15.0]
    );
    // Max, 3x3 stride 2, ceil mode: a 2x2 output whose last windows hang over the edge.
    let y = run(Pool::max(3, 2, 0).ceil());
    assert_eq!(
        y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap(),
        vec![10.0, 11.0, 14.0, 15.0]
    );
    // Average, 2x2 stride 2 padding 1, padding counted: corner = 0 / 4.
    let y = run(Pool::avg(2, 2, 1));
    assert_eq!(y.dims(), [1, 1, 3, 3]);
    let values = y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    assert_eq!(values[0], 0.0);
    assert_eq!(values[4], (5.0 + 6.0 + 9.0 + 10.0) / 4.0);
}

#[test]
fn batch_norm_on_maps_and_vectors_uses_batch_statistics_in_training() {
    let device = Device::flex().autodiff();
    let net = build(
        SequentialSpec::new()
            .add(LayerSpec::Conv(ConvSpec::new(4, 3).padding(1)))
            .add(LayerSpec::BatchNorm)
            .add(LayerSpec::Dense(DenseSpec::new(6)))
            .add(LayerSpec::BatchNorm)
            .add(LayerSpec::Sigmoid),
        vec![2, 5, 5],
        &device,
    );
    let x = Tensor::<4>::random(
        [16, 2, 5, 5],
        burn::tensor::Distribution::Normal(3.0, 2.0),
        &device,
    );
    // Up to the second batch norm: every feature has batch mean 0 and variance 1.
    let (head, _) = SequentialSpec::new()
        .add(LayerSpec::Conv(ConvSpec::new(4, 3).padding(1)))
        .add(LayerSpec::BatchNorm)
        .build(&vec![2, 5, 5], Init::XavierUniform, &device)
        .unwrap();
    let maps = head.forward(Features::Maps(x.clone())).into_maps();
    let mean = maps
        .clone()
        .mean_dim(0)
        .mean_dim(2)
        .mean_dim(3)
        .flatten::<1>(0, 3);
    mean.into_data()
        .assert_approx_eq::<f32>(&TensorData::zeros::<f32, _>([4]), Tolerance::absolute(1e-4));
    let y = net.forward(Features::Maps(x)).into_flat();
    assert_eq!(y.dims(), [16, 6]);
    let values = y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    assert!(
        values.iter().all(|&v| v > 0.0 && v < 1.0),
        "sigmoid outputs in (0, 1)"
    );
}

#[test]
fn dropout_is_inactive_in_inference() {
    let device = Device::flex();
    let net = build(
        SequentialSpec::new().add(LayerSpec::Dropout(0.5)),
        vec![10],
        &device,
    );
    let x = Tensor::<2>::ones([4, 10], &device);
    assert_eq!(
        net.forward(Features::Flat(x.clone()))
            .into_flat()
            .into_data(),
        x.into_data()
    );
    let err = SequentialSpec::new()
        .add(LayerSpec::Dropout(1.5))
        .build(&vec![10], Init::XavierUniform, &device)
        .unwrap_err();
    assert!(err.to_string().contains("outside [0, 1)"), "{err}");
}
