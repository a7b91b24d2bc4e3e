//! GoogLeNet (d2l variant): exact shapes and parameter count from the reference.

use burn::tensor::{Device, Distribution, Tensor};
use inception::models::{ModelConfig, ModelKind};

#[test]
fn googlenet_shapes_and_parameters_match_the_reference() {
    let device = Device::flex();
    let model = ModelConfig::new(ModelKind::Googlenet)
        .build(&device)
        .unwrap();
    assert_eq!(model.num_trainable(), 5_977_530);
    let x = Tensor::<4>::random([1, 1, 96, 96], Distribution::Default, &device);
    let (logits, rows) = model.trace(x, 0);
    let shapes: Vec<(&str, Vec<usize>)> = rows
        .iter()
        .map(|r| (r.path.as_str(), r.shape.clone()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("b1", vec![1, 64, 24, 24]),
            ("b2", vec![1, 192, 12, 12]),
            ("b3", vec![1, 480, 6, 6]),
            ("b4", vec![1, 832, 3, 3]),
            ("b5", vec![1, 1024, 1, 1]),
            ("dense", vec![1, 10]),
        ]
    );
    assert_eq!(logits.dims(), [1, 10]);
    // Per-block parameters add up to the total.
    assert_eq!(rows.iter().map(|r| r.params).sum::<usize>(), 5_977_530);
    assert_eq!(rows[5].params, 1024 * 10 + 10);
}

#[test]
fn nested_trace_lists_every_layer_in_order() {
    let device = Device::flex();
    let model = ModelConfig::new(ModelKind::Googlenet)
        .build(&device)
        .unwrap();
    let x = Tensor::<4>::zeros([2, 1, 96, 96], &device);
    let (_, rows) = model.trace(x, 1);
    let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(&paths[..4], ["b1", "b1.0", "b1.1", "b2"]);
    let b3_0 = rows.iter().find(|r| r.path == "b3.0").unwrap();
    assert_eq!(b3_0.shape, vec![2, 256, 12, 12]);
    assert!(
        b3_0.description.starts_with("Inception(c1=64"),
        "{}",
        b3_0.description
    );
    let conv = rows.iter().find(|r| r.path == "b1.0").unwrap();
    assert_eq!(conv.params, 64 * 7 * 7 + 64);
}

#[test]
fn other_input_sizes_work_and_impossible_ones_name_the_layer() {
    let device = Device::flex();
    let small = ModelConfig::new(ModelKind::Googlenet)
        .with_input([1, 32, 32])
        .build(&device)
        .unwrap();
    let x = Tensor::<4>::zeros([3, 1, 32, 32], &device);
    assert_eq!(small.forward(x).dims(), [3, 10]);
    // Parameter count does not depend on the input size.
    assert_eq!(small.num_trainable(), 5_977_530);

    // GoogLeNet pads everything, so even 1x1 inputs pass; a 7x7 kernel without padding on a
    // 3x3 map cannot, and the error names the layer.
    use inception::nn::{ConvConfig, Init, SequentialSpec};
    let net = SequentialSpec::new().add_named(
        "features",
        SequentialSpec::new()
            .add(ConvConfig::new(8, 3).relu())
            .add(ConvConfig::new(8, 7)),
    );
    let err = net
        .build_network(&vec![1, 5, 5], Init::XavierUniform, &device, 10)
        .unwrap_err();
    assert_eq!(err.layer, "features.1", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("7x7 kernel") && msg.contains("3x3 input"),
        "{msg}"
    );
}

#[test]
fn xavier_initialization_has_the_glorot_range_and_zero_biases() {
    let device = Device::flex();
    device.seed(1);
    let model = ModelConfig::new(ModelKind::Googlenet)
        .build(&device)
        .unwrap();
    let b1 = model.body.get("b1").unwrap();
    let b1 = b1.downcast_ref::<inception::nn::Sequential>().unwrap();
    let conv = b1.layer(0).unwrap();
    let conv = conv.downcast_ref::<inception::nn::Conv>().unwrap();
    let w = conv.weight.val().into_data().try_to_vec::<f32>().unwrap();
    let bound = (6.0f32 / (49.0 + 64.0 * 49.0)).sqrt();
    let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        max <= bound && max > 0.9 * bound,
        "max |w| {max} vs bound {bound}"
    );
    let b = conv
        .bias
        .as_ref()
        .unwrap()
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(b.iter().all(|&v| v == 0.0));
}

#[test]
fn flops_names_and_structure() {
    let device = Device::flex();
    let model = ModelConfig::new(ModelKind::Googlenet)
        .build(&device)
        .unwrap();
    let (_, rows) = model.trace(Tensor::zeros([1, 1, 96, 96], &device), 0);
    // The reference: 0.552 GFLOP for one forward pass at 96x96.
    let flops: u64 = rows.iter().map(|r| r.flops).sum();
    assert!((551_500_000..552_500_000).contains(&flops), "{flops}");

    let params = model.named_params();
    let p2_2 = params
        .iter()
        .find(|p| p.name == "b3.0.p2_2.weight")
        .unwrap();
    assert_eq!(p2_2.shape, vec![128, 96, 3, 3]);
    assert_eq!(params.iter().map(|p| p.count()).sum::<usize>(), 5_977_530);
    assert_eq!(params.first().unwrap().name, "b1.0.weight");
    assert_eq!(params.last().unwrap().name, "dense.bias");

    let structure = model.structure();
    assert!(structure.starts_with("googlenet(\n  (b1): Sequential(\n    (0): Conv2D(64, kernel_size=7x7, stride=2, padding=3"), "{structure}");
    assert!(
        structure.contains("      (p4_1): MaxPool2D(pool_size=3x3, stride=1, padding=1)\n"),
        "{structure}"
    );
    assert!(
        structure.ends_with("  (dense): Dense(10)\n)"),
        "{structure}"
    );
}
