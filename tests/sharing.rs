//! Parameter sharing: one parameter set used by two layers (Gluon's `params=net[-1].params`,
//! seed 002's `FancyMLP` reusing a layer) receives the sum of both gradients and stays one set
//! through optimizer steps.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Distribution, Tensor};
use inception::nn::{
    count_params, tie_shared, DenseSpec, Features, Init, Layer, LayerSpec, Sequential,
    SequentialSpec,
};

/// Dense(4, relu) -> the same layer again -> Dense(1).
fn shared_spec() -> SequentialSpec {
    SequentialSpec::new()
        .add(LayerSpec::Dense(DenseSpec::new(4).relu()))
        .add(LayerSpec::SharedWith("0".into()))
        .add(LayerSpec::Dense(DenseSpec::new(1)))
}

fn dense(seq: &Sequential, i: usize) -> (Tensor<2>, Tensor<1>, ParamId) {
    let Layer::Dense(d) = &seq.layers[i] else {
        panic!("layer {i} is dense")
    };
    (d.weight.val(), d.bias.val(), d.weight.id)
}

fn loss(net: &Sequential, x: Tensor<2>) -> Tensor<1> {
    net.forward(Features::Flat(x))
        .into_flat()
        .powi_scalar(2)
        .sum()
}

/// Gives every parameter a fresh id (and its own autodiff leaf), keeping the values.
struct Untie;
impl ModuleMapper for Untie {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let value = param.val().detach().require_grad();
        Param::initialized(ParamId::new(), value)
    }
}

#[test]
fn shared_layers_get_the_sum_of_both_gradients_and_stay_identical() {
    let device = Device::flex().autodiff();
    device.seed(4);
    let (net, out) = shared_spec()
        .build(&vec![4], Init::XavierUniform, &device)
        .unwrap();
    assert_eq!(out, vec![1]);
    // 4x4 + 4 shared, 4 + 1 for the last layer: the shared set counts once.
    assert_eq!(count_params(&net), 20 + 5);
    let (w0, _, id0) = dense(&net, 0);
    let (w1, _, id1) = dense(&net, 1);
    assert_eq!(id0, id1);
    assert_eq!(w0.to_data(), w1.to_data());

    let x = Tensor::<2>::random([8, 4], Distribution::Default, &device);

    // The same network with two independent copies of the shared layer.
    let untied = net.clone().map(&mut Untie);
    let grads = loss(&untied, x.clone()).backward();
    let g0 = dense(&untied, 0).0.grad(&grads).unwrap();
    let g1 = dense(&untied, 1).0.grad(&grads).unwrap();

    let grads = loss(&net, x.clone()).backward();
    let shared = dense(&net, 0).0.grad(&grads).unwrap();
    let expected = (g0 + g1).into_data();
    shared
        .into_data()
        .assert_approx_eq::<f32>(&expected, burn::tensor::Tolerance::default());

    // Three SGD steps: both layers move, and move together.
    let mut optim = SgdConfig::new().init();
    let mut net = net;
    let start = dense(&net, 0).0.into_data();
    for _ in 0..3 {
        let grads = GradientsParams::from_grads(loss(&net, x.clone()).backward(), &net);
        net = tie_shared(optim.step(0.05, net, grads));
        let (a, ab, _) = dense(&net, 0);
        let (b, bb, _) = dense(&net, 1);
        assert_eq!(a.to_data(), b.to_data());
        assert_eq!(ab.to_data(), bb.to_data());
    }
    assert_ne!(dense(&net, 0).0.into_data(), start);
}

#[test]
fn sharing_requires_an_earlier_layer_with_the_same_input() {
    let device = Device::flex();
    let missing = SequentialSpec::new().add(LayerSpec::SharedWith("nope".into()));
    let err = missing
        .build(&vec![4], Init::XavierUniform, &device)
        .unwrap_err();
    assert!(
        err.to_string().contains("no earlier layer is named `nope`"),
        "{err}"
    );

    let wrong_input = SequentialSpec::new()
        .add(LayerSpec::Dense(DenseSpec::new(3)))
        .add(LayerSpec::SharedWith("0".into()));
    let err = wrong_input
        .build(&vec![4], Init::XavierUniform, &device)
        .unwrap_err();
    assert_eq!(err.layer, "1");
    assert!(
        err.to_string().contains("`0` takes inputs of shape [4]"),
        "{err}"
    );
}
