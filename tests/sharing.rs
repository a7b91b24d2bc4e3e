//! Parameter sharing is structural: one layer placed twice (Gluon's `params=net[-1].params`,
//! a module used twice in PyTorch) is held once, so it has one tensor per parameter, receives
//! the sum of both places' gradients, and every loop (a hand-written one, `train`, `bench`)
//! updates it once; nothing re-ties parameters after a step.

mod common;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Distribution, Tensor};
use inception::bench::{bench_network, BenchOptions};
use inception::data::{FashionMnist, Split};
use inception::models::{Model, ModelConfig};
use inception::nn::{
    count_params, Classifier, Dense, DenseConfig, Features, Forward, Init, Layer, Sequential,
    SequentialSpec, Shared,
};
use inception::train::{train_model, Silent, TrainConfig};

/// `hidden` -> the same layer again -> Dense(1).
fn shared_spec(hidden: DenseConfig) -> SequentialSpec {
    let hidden = Shared::new(hidden);
    SequentialSpec::new()
        .add(hidden.clone())
        .add(hidden)
        .add(DenseConfig::new(1))
}

fn dense(seq: &Sequential, step: usize) -> &Dense {
    seq.layer(step).unwrap().downcast_ref::<Dense>().unwrap()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn loss(net: &Sequential, x: Tensor<2>) -> Tensor<1> {
    let device = x.device();
    net.forward(Features::Flat(x), &mut Forward::for_device(&device))
        .into_flat()
        .powi_scalar(2)
        .sum()
}

/// The same layer with fresh parameter ids (and its own autodiff leaves), the same values.
struct Untie;
impl ModuleMapper for Untie {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let value = param.val().detach().require_grad();
        Param::initialized(ParamId::new(), value)
    }
}

#[test]
fn a_shared_layer_is_one_layer_and_gets_the_sum_of_both_gradients() {
    let device = Device::flex().autodiff();
    device.seed(4);
    let (net, out) = shared_spec(DenseConfig::new(4).relu())
        .build_network(&vec![4], Init::XavierUniform, &device, 10)
        .unwrap();
    assert_eq!(out, vec![1]);
    // 4x4 + 4 shared, 4 + 1 for the last layer: the shared layer counts once.
    assert_eq!(count_params(&net), 20 + 5);
    let steps: Vec<(String, Option<String>)> = net
        .steps()
        .map(|(name, _, shares)| (name.to_string(), shares.map(str::to_string)))
        .collect();
    assert_eq!(
        steps,
        [
            ("0".to_string(), None),
            ("1".to_string(), Some("0".to_string())),
            ("2".to_string(), None)
        ]
    );
    assert_eq!(dense(&net, 0).weight.id, dense(&net, 1).weight.id);

    // The same network with two independent copies of the shared layer, same values.
    let untied = SequentialSpec::new()
        .add_built(dense(&net, 0).clone().map(&mut Untie))
        .add_built(dense(&net, 1).clone().map(&mut Untie))
        .add_built(dense(&net, 2).clone().map(&mut Untie))
        .build_network(&vec![4], Init::XavierUniform, &device, 10)
        .unwrap()
        .0;
    assert_eq!(count_params(&untied), 2 * 20 + 5);
    let x = Tensor::<2>::random([8, 4], Distribution::Default, &device);
    let grads = loss(&untied, x.clone()).backward();
    let g0 = dense(&untied, 0).weight.grad(&grads).unwrap();
    let g1 = dense(&untied, 1).weight.grad(&grads).unwrap();

    let grads = loss(&net, x).backward();
    let shared = dense(&net, 0).weight.grad(&grads).unwrap();
    shared
        .into_data()
        .assert_approx_eq::<f32>(&(g0 + g1).into_data(), burn::tensor::Tolerance::default());
}

#[test]
fn optimizer_steps_move_both_places_together_without_re_tying() {
    let device = Device::flex().autodiff();
    device.seed(5);
    // Without ReLU: burn's seed is one generator for the whole process, so the tests running
    // beside this one change which values it draws, and some draws leave a Dense(4, relu) placed
    // twice dead for all eight inputs (no gradient, no step). A linear shared layer always moves.
    let (mut net, _) = shared_spec(DenseConfig::new(4))
        .build_network(&vec![4], Init::XavierUniform, &device, 10)
        .unwrap();
    let x = Tensor::<2>::random([8, 4], Distribution::Default, &device);
    let start = values(dense(&net, 0).weight.val());
    let mut optim = SgdConfig::new().init();
    for _ in 0..3 {
        let grads = GradientsParams::from_grads(loss(&net, x.clone()).backward(), &net);
        net = optim.step(0.05, net, grads);
        assert_eq!(
            values(dense(&net, 0).weight.val()),
            values(dense(&net, 1).weight.val())
        );
        assert_eq!(
            values(dense(&net, 0).bias.val()),
            values(dense(&net, 1).bias.val())
        );
    }
    assert_ne!(values(dense(&net, 0).weight.val()), start);
}

/// A network file with a layer placed twice (`share`).
const SHARED_NET: &str = r#"
input = [1, 28, 28]
classes = 10
layers = [
  { type = "flatten" },
  { name = "squeeze", type = "dense", units = 32, activation = "relu" },
  { name = "hidden", type = "dense", units = 32, activation = "relu" },
  { name = "again", share = "hidden" },
  { name = "output", type = "dense", units = "classes" },
]
"#;

fn shared_model(device: &Device) -> Model {
    ModelConfig::from_text(SHARED_NET, "shared.toml", "shared")
        .unwrap()
        .build(device)
        .unwrap()
}

/// Both places of `hidden` hold one weight, with these values; and the network computes with
/// it twice.
fn check_places(model: &Model) -> Vec<f32> {
    let steps: Vec<_> = model.body.steps().collect();
    let (_, hidden, _) = steps[2];
    let (name, again, shares) = steps[3];
    assert_eq!((name, shares), ("again", Some("hidden")));
    let hidden = hidden.downcast_ref::<Dense>().unwrap();
    let again = again.downcast_ref::<Dense>().unwrap();
    assert_eq!(hidden.weight.id, again.weight.id);
    let w = values(hidden.weight.val());
    assert_eq!(w, values(again.weight.val()));
    // By hand: output(hidden(hidden(squeeze(x)))).
    let device = Device::flex();
    let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
    let model = model.valid();
    let squeeze = model
        .body
        .get("squeeze")
        .unwrap()
        .downcast_ref::<Dense>()
        .unwrap();
    let output = model
        .body
        .get("output")
        .unwrap()
        .downcast_ref::<Dense>()
        .unwrap();
    let hidden = model
        .body
        .get("hidden")
        .unwrap()
        .downcast_ref::<Dense>()
        .unwrap();
    let by_hand = output.forward_flat(
        hidden.forward_flat(hidden.forward_flat(squeeze.forward_flat(x.clone().flatten(1, 3)))),
    );
    assert_eq!(values(model.predict(x)), values(by_hand));
    w
}

#[test]
fn train_keeps_both_places_one_layer() {
    let dir = common::fashion_mnist_dir();
    let train_set = FashionMnist::load(&dir, Split::Train).unwrap();
    let test_set = FashionMnist::load(&dir, Split::Test).unwrap();
    let device = Device::flex();
    let mut config = TrainConfig::new(shared_model(&device).config);
    config.epochs = 1;
    config.batch_size = 16;
    config.limit_train = Some(64);
    config.limit_test = Some(16);
    let initial = {
        let train_device = device.clone().autodiff();
        train_device.seed(config.seed);
        let model = shared_model(&train_device);
        inception::nn::params::initialize_now(&model);
        check_places(&model)
    };
    let outcome = train_model(&config, &train_set, &test_set, &device, &mut Silent).unwrap();
    let trained = check_places(&outcome.model);
    assert_ne!(
        trained, initial,
        "four optimizer steps moved the shared weight"
    );
}

#[test]
fn bench_keeps_both_places_one_layer() {
    let device = Device::flex();
    let train_device = device.clone().autodiff();
    train_device.seed(0);
    let model = shared_model(&train_device);
    inception::nn::params::initialize_now(&model);
    let initial = check_places(&model);
    let options = BenchOptions {
        batch: 8,
        side: 28,
        warmup: 1,
        timed: 2,
        ..BenchOptions::new(model.config.clone())
    };
    let (report, trained) = bench_network(model, "shared", [1, 28, 28], 10, &options, &device, 1);
    assert!(report.train_img_s > 0.0);
    assert_ne!(
        check_places(&trained),
        initial,
        "three SGD steps moved the shared weight"
    );
}

#[test]
fn sharing_errors_name_the_layer() {
    let device = Device::flex();
    let build = |spec: SequentialSpec| {
        spec.build_network(&vec![4], Init::XavierUniform, &device, 10)
            .unwrap_err()
    };
    let err = SequentialSpec::new()
        .add_again("1", "nope")
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.contains("no earlier layer in this block is named `nope`"),
        "{err}"
    );

    // Placed again where its input has another shape.
    let hidden = Shared::new(DenseConfig::new(3));
    let err = build(SequentialSpec::new().add(hidden.clone()).add(hidden));
    assert_eq!(err.layer, "1");
    assert!(
        err.to_string()
            .contains("it is `0` again: it takes 4 inputs"),
        "{err}"
    );

    // One shared layer in two blocks: refused, not silently two layers.
    let hidden = Shared::new(DenseConfig::new(4));
    let err = build(
        SequentialSpec::new()
            .add_named("a", SequentialSpec::new().add(hidden.clone()))
            .add_named("b", SequentialSpec::new().add(hidden)),
    );
    assert_eq!(err.layer, "b.0");
    assert!(
        err.to_string().contains("already placed in the block `a`"),
        "{err}"
    );

    // A built layer held by two different blocks: refused too.
    let (built, _) = SequentialSpec::new()
        .add(DenseConfig::new(4))
        .build_network(&vec![4], Init::XavierUniform, &device, 10)
        .unwrap();
    let layer = built.layer(0).unwrap().clone();
    let err = build(
        SequentialSpec::new()
            .add_named(
                "a",
                SequentialSpec::new()
                    .add_built(layer.clone())
                    .add(DenseConfig::new(4)),
            )
            .add_named("b", SequentialSpec::new().add_built(layer.clone())),
    );
    assert!(
        err.to_string().contains("same parameter as `a.0.weight`"),
        "{err}"
    );

    // The same built block placed twice is one block at two places, like a layer.
    let block = SequentialSpec::new().add_built(layer);
    let (net, _) = SequentialSpec::new()
        .add_named("a", block.clone())
        .add_named("b", block)
        .build_network(&vec![4], Init::XavierUniform, &device, 10)
        .unwrap();
    assert_eq!(net.steps().nth(1).unwrap().2, Some("a"));
    assert_eq!(count_params(&net), 20);
}
