//! Initializers and re-initialization of a built network (Gluon's `force_reinit`).

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Distribution, Tensor};
use inception::models::{ModelConfig, ModelKind};
use inception::nn::{reinitialize, Init, ParamInit, ParamRole};

/// Article 002's `MyInit`: weights uniform in [5, 10], biases 2.
struct MyInit;

impl ParamInit for MyInit {
    fn init<const D: usize>(
        &self,
        role: ParamRole,
        shape: [usize; D],
        device: &Device,
    ) -> Tensor<D> {
        match role {
            ParamRole::Weight { .. } => {
                Tensor::random(shape, Distribution::Uniform(5.0, 10.0), device)
            }
            ParamRole::Bias => Tensor::full(shape, 2.0, device),
        }
    }
}

/// Every float parameter (running statistics included) with its path and values.
#[derive(Default)]
struct Collect {
    path: Vec<String>,
    params: Vec<(String, ParamId, Vec<f32>)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = param
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        self.params.push((self.path.join("."), param.id, values));
    }
}

fn collect<M: Module>(module: &M) -> Vec<(String, ParamId, Vec<f32>)> {
    let mut c = Collect::default();
    module.visit(&mut c);
    c.params
}

#[test]
fn my_init_sets_weights_in_5_10_and_biases_to_2() {
    let device = Device::flex();
    let model = ModelConfig::new(ModelKind::Lenet).build(&device).unwrap();
    let before = collect(&model);
    let model = reinitialize(model, &MyInit);
    let after = collect(&model);
    assert_eq!(after.len(), 8);
    for ((path, id, values), (_, old_id, _)) in after.iter().zip(&before) {
        assert_eq!(id, old_id, "ids are kept so optimizer state still applies");
        if path.ends_with("weight") {
            assert!(values.iter().all(|v| (5.0..=10.0).contains(v)), "{path}");
        } else {
            assert!(values.iter().all(|&v| v == 2.0), "{path}");
        }
    }
}

#[test]
fn force_reinit_with_builtin_initializers_leaves_batch_norm_alone() {
    let device = Device::flex();
    let model = ModelConfig::new(ModelKind::GooglenetBn)
        .with_input([1, 32, 32])
        .build(&device)
        .unwrap();
    let model = reinitialize(model, &Init::Constant { value: 0.5 });
    for (path, _, values) in collect(&model) {
        let leaf = path.rsplit('.').next().unwrap();
        let expected = match leaf {
            "gamma" | "running_var" => 1.0,
            "beta" | "running_mean" => 0.0,
            "weight" => 0.5,
            "bias" => 0.0,
            other => panic!("unexpected parameter {other} at {path}"),
        };
        assert!(
            values.iter().all(|&v| v == expected),
            "{path}: expected {expected}"
        );
    }

    let model = reinitialize(model, &Init::Normal { sigma: 0.01 });
    let weights: Vec<f32> = collect(&model)
        .into_iter()
        .filter(|(p, _, _)| p.ends_with("weight"))
        .flat_map(|(_, _, v)| v)
        .collect();
    let mean = weights.iter().sum::<f32>() / weights.len() as f32;
    let std =
        (weights.iter().map(|w| (w - mean).powi(2)).sum::<f32>() / weights.len() as f32).sqrt();
    assert!(
        mean.abs() < 1e-3 && (std - 0.01).abs() < 1e-3,
        "mean {mean}, std {std}"
    );
}

#[test]
fn uniform_initializer_at_construction() {
    let device = Device::flex();
    let mut config = ModelConfig::new(ModelKind::Lenet);
    config.init = Init::Uniform {
        low: -0.07,
        high: 0.07,
    };
    let model = config.build(&device).unwrap();
    for (path, _, values) in collect(&model) {
        if path.ends_with("weight") {
            assert!(values.iter().all(|v| v.abs() <= 0.07), "{path}");
            assert!(
                values.iter().any(|v| v.abs() > 0.06),
                "{path} spans the range"
            );
        } else {
            assert!(
                values.iter().all(|&v| v == 0.0),
                "{path}: biases start at zero"
            );
        }
    }
}
