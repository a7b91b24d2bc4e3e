//! The training loop's SGD (`flex::FusedSgd`: one pass per parameter on the CPU) gives burn's
//! `Sgd` bit for bit, in every form (plain, weight decay, momentum, Nesterov), on the fast path
//! and off it; and the optimizer state of either resumes with the other.

mod common;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use inception::flex::{set_fast_path, FusedSgd, SgdMomentum};
use inception::interop::state_dict;
use inception::models::{Model, ModelConfig, ModelKind};

/// One setting of both optimizers.
struct Form {
    weight_decay: Option<f32>,
    momentum: Option<(f64, f64, bool)>,
}

const FORMS: [Form; 5] = [
    Form {
        weight_decay: None,
        momentum: None,
    },
    Form {
        weight_decay: Some(5e-4),
        momentum: None,
    },
    Form {
        weight_decay: None,
        momentum: Some((0.9, 0.0, false)),
    },
    Form {
        weight_decay: Some(1e-4),
        momentum: Some((0.9, 0.0, true)),
    },
    Form {
        weight_decay: Some(2e-4),
        momentum: Some((0.8, 0.25, false)),
    },
];

impl Form {
    fn burn(&self) -> ModuleOptimizer {
        SgdConfig::new()
            .with_weight_decay(self.weight_decay.map(WeightDecayConfig::new))
            .with_momentum(
                self.momentum
                    .map(|(momentum, dampening, nesterov)| MomentumConfig {
                        momentum,
                        dampening,
                        nesterov,
                    }),
            )
            .init()
    }

    fn fused(&self) -> ModuleOptimizer {
        FusedSgd {
            weight_decay: self.weight_decay,
            momentum: self
                .momentum
                .map(|(momentum, dampening, nesterov)| SgdMomentum {
                    momentum,
                    dampening,
                    nesterov,
                }),
        }
        .init(None)
    }
}

/// GoogLeNet d2l on small images: several parameters larger than one block of the kernel's
/// threads, no batch norm (so clones of the network share nothing that training changes).
struct Setup {
    model: Model,
    x: Tensor<4>,
    t: Tensor<1, Int>,
}

fn setup() -> Setup {
    let device = Device::flex().autodiff();
    let config = ModelConfig::new(ModelKind::Googlenet).with_input([1, 32, 32]);
    let model = config.build(&device).unwrap();
    let x = Tensor::<4>::random([4, 1, 32, 32], Distribution::Uniform(0.0, 1.0), &device);
    let t = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 7, 3, 0], [4]), &device);
    Setup { model, x, t }
}

impl Setup {
    /// `steps` steps of `optim` from `model`, each at its own rate.
    fn train(&self, mut model: Model, optim: &mut ModuleOptimizer, steps: usize) -> Model {
        let loss_fn = CrossEntropyLossConfig::new().init(&self.x.device());
        for step in 0..steps {
            let (_, loss) = model.forward_train(self.x.clone()).loss(&loss_fn, &self.t);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.05 + 0.01 * step as f64, model, grads);
        }
        model
    }
}

/// Every parameter of `a` and `b` bit for bit (the names of the first that differs).
fn assert_identical(what: &str, a: &Model, b: &Model) {
    let (a, b) = (state_dict(a), state_dict(b));
    assert_eq!(a.tensors.len(), b.tensors.len());
    for (name, tensor) in &a.tensors {
        let other = &b.tensors[name].values;
        let same = tensor
            .values
            .iter()
            .zip(other)
            .all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same, "{what}: {name} differs");
    }
}

#[test]
fn fused_sgd_is_bit_identical_to_burns_sgd_on_and_off_the_fast_path() {
    let _switch = common::fast_path_switch();
    let s = setup();
    for (i, form) in FORMS.iter().enumerate() {
        for fast in [true, false] {
            set_fast_path(fast);
            let burn = s.train(s.model.clone(), &mut form.burn(), 3);
            let fused = s.train(s.model.clone(), &mut form.fused(), 3);
            assert_identical(&format!("form {i}, fast path {fast}"), &fused, &burn);
        }
    }
    set_fast_path(true);
    // A step moves every parameter that is not all zeros (weight decay alone moves those).
    let moved = s.train(s.model.clone(), &mut FORMS[3].fused(), 1);
    let (before, after) = (state_dict(&s.model), state_dict(&moved));
    for (name, tensor) in &before.tensors {
        if tensor.values.iter().any(|&v| v != 0.0) {
            assert_ne!(
                tensor.values, after.tensors[name].values,
                "{name} did not move"
            );
        }
    }
}

#[test]
fn optimizer_state_of_either_resumes_with_the_other() {
    let _switch = common::fast_path_switch();
    let s = setup();
    for (i, form) in FORMS.iter().enumerate() {
        for (first, second) in [("burn", "fused"), ("fused", "burn")] {
            let make = |which| match which {
                "burn" => form.burn(),
                _ => form.fused(),
            };
            let mut optim = make(first);
            let model = s.train(s.model.clone(), &mut optim, 2);
            let record = optim.to_record();
            let mut same = make(first);
            same = same.load_record(optim.to_record());
            let mut other = make(second).load_record(record);
            let reference = s.train(model.clone(), &mut same, 1);
            let resumed = s.train(model, &mut other, 1);
            let what = format!("form {i}, {first}'s state resumed by {second}");
            assert_identical(&what, &resumed, &reference);
        }
    }
}
