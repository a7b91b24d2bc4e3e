//! Your own layers and blocks next to the built-in ones, as article 002 writes them in Gluon:
//! - `CenteredLayer`: no parameters, `x - mean(x)`;
//! - `MyDense`: a dense layer with its own weight and bias, its input size deferred;
//! - `FancyMlp`: one dense layer used twice, a constant (untrained) weight, and control flow;
//! - `RecMlp`: a block holding a `Sequential`, itself placed in a `Sequential`.
//!
//! Each implements the layer contract ([`Layer`] for the built layer, [`LayerConfig`] for its
//! settings), so it goes into a `Sequential` among built-in layers, nests, shows in a trace with
//! its output shape and parameters, trains, saves, reloads, resumes and exports. Registered
//! under a name, it can be used in network files too (see `NETWORK` below).
//!
//! ```sh
//! cargo run --release --example custom_layers
//! ```

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use inception::models::ModelConfig;
use inception::nn::{
    BlockConfig, Build, Classifier, DenseConfig, Features, Forward, Layer, LayerConfig, Registry,
    Sequential, SequentialSpec, Shape, TorchName,
};
use inception::onnx::{Attr, OnnxGraph, OnnxValue};
use rand::{Rng, SeedableRng};
use serde::Deserialize;

/// Subtracts the mean (article 002's `CenteredLayer`): a layer without parameters, which is its
/// own config.
#[derive(Module, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenteredLayer {}

impl Layer for CenteredLayer {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        fn center<const D: usize>(t: Tensor<D>) -> Tensor<D> {
            let mean = t.clone().mean().unsqueeze::<D>();
            t - mean
        }
        x.map(center, center)
    }
    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }
    fn describe(&self) -> String {
        "CenteredLayer()".into()
    }
    /// ONNX: the mean of the whole batch (`ReduceMean` over every axis), subtracted.
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let mean = graph.node("ReduceMean", &[&x.name], &[("keepdims", Attr::Int(0))]);
        let y = graph.node("Sub", &[&x.name, &mean], &[]);
        Ok(x.with(y, x.shape.clone()))
    }
}

inception::layer_is_its_own_config!(CenteredLayer);

/// `MyDense(units)`: `relu(x W + b)` with `in_units` found when it is built (Gluon's deferred
/// initialization).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MyDenseConfig {
    pub units: usize,
}

impl LayerConfig for MyDenseConfig {
    type Layer = MyDense;
    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<MyDense, String> {
        let in_units: usize = input.iter().product();
        Ok(MyDense::new(in_units, self.units, ctx))
    }
    fn describe(&self) -> String {
        format!("MyDense({})", self.units)
    }
}

#[derive(Module, Debug)]
pub struct MyDense {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

impl MyDense {
    /// Weights drawn by the network's initializer, a zero bias.
    pub fn new(in_units: usize, units: usize, ctx: &Build) -> Self {
        Self {
            weight: ctx
                .init()
                .weight([in_units, units], in_units, units, ctx.device()),
            bias: Initializer::Zeros.init([units], ctx.device()),
        }
    }

    fn sizes(&self) -> [usize; 2] {
        self.weight.lazy_shape().dims::<2>()
    }

    pub fn forward_flat(&self, x: Tensor<2>) -> Tensor<2> {
        relu(x.matmul(self.weight.val()) + self.bias.val().unsqueeze())
    }
}

impl Layer for MyDense {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        Features::Flat(self.forward_flat(x.into_flat()))
    }
    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let [in_units, units] = self.sizes();
        match input.iter().product::<usize>() {
            n if n == in_units => Ok(vec![units]),
            n => Err(format!("it takes {in_units} inputs, not {n}")),
        }
    }
    fn describe(&self) -> String {
        format!("MyDense({})", self.sizes()[1])
    }
    fn flops(&self, input: &[usize], output: &[usize]) -> u64 {
        2 * (input[0] * self.sizes()[0] * output[1]) as u64
    }
    /// PyTorch's `nn.Linear` stores the weight `[units, in]`.
    fn torch_name(&self, path: &str) -> TorchName {
        match path {
            "weight" => TorchName::transposed("weight"),
            other => TorchName::same(other),
        }
    }
    /// ONNX: `relu(Gemm(x, W, b))`; the weights are keyed by their parameter, so a layer
    /// placed twice stores them once.
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let key = |what: &str| Some(format!("{}:{what}", self.weight.id));
        let weight = graph.weight("weight", self.weight.val(), key("weight"));
        let bias = graph.weight("bias", self.bias.val(), key("bias"));
        let flat = graph.node("Flatten", &[&x.name], &[("axis", Attr::Int(1))]);
        let y = graph.node("Gemm", &[&flat, &weight, &bias], &[]);
        let y = graph.node("Relu", &[&y], &[]);
        Ok(x.with(y, self.output_shape(&x.shape)?))
    }
}

/// Article 002's `FancyMLP`: a dense layer, a constant weight, the same dense layer again, then
/// halving until the norm is at most 1. The constant is drawn from `seed`, so a rebuilt network
/// has the same one (like Gluon's `nd.random_uniform` attribute, it is not a parameter).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FancyMlpConfig {
    pub hidden: usize,
    pub seed: u64,
}

impl LayerConfig for FancyMlpConfig {
    type Layer = FancyMlp;
    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<FancyMlp, String> {
        let in_units: usize = input.iter().product();
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        let values: Vec<f32> = (0..self.hidden * in_units)
            .map(|_| rng.random_range(0.0..1.0))
            .collect();
        Ok(FancyMlp {
            dense: MyDense::new(in_units, self.hidden, ctx),
            constant: Tensor::from_data(
                TensorData::new(values, [self.hidden, in_units]),
                ctx.device(),
            ),
        })
    }
    fn describe(&self) -> String {
        format!("FancyMlp(hidden={})", self.hidden)
    }
}

#[derive(Module, Debug)]
pub struct FancyMlp {
    /// Used twice in `forward`: one set of parameters, the sum of both gradients.
    pub dense: MyDense,
    /// Never trained.
    pub constant: Tensor<2>,
}

impl Layer for FancyMlp {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        let x = self.dense.forward_flat(x.into_flat());
        let x = relu(x.matmul(self.constant.clone()).add_scalar(1.0));
        let mut x = self.dense.forward_flat(x);
        // Control flow on values: `while x.norm() > 1: x /= 2`.
        while x.clone().powi_scalar(2).sum().sqrt().into_scalar::<f32>() > 1.0 {
            x = x.div_scalar(2.0);
        }
        Features::Flat(x)
    }
    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        self.dense.output_shape(input)
    }
    fn describe(&self) -> String {
        format!("FancyMlp(hidden={})", self.dense.sizes()[1])
    }
    fn torch_name(&self, path: &str) -> TorchName {
        TorchName::child(path, &[("dense", "dense", &self.dense)])
    }
    // No `to_onnx`: its loop runs a number of times that depends on the values, which a fixed
    // ONNX graph cannot say without a `Loop` node; exporting a network that holds it names it.
}

/// Article 002's `RecMLP`: a block around a `Sequential` of built-in layers, then a `MyDense`. In
/// a network file: `{ type = "rec_mlp", units = 32, layers = [...] }`.
#[derive(Debug, Clone)]
pub struct RecMlpConfig {
    pub net: SequentialSpec,
    pub units: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecMlpSettings {
    pub units: usize,
}

impl BlockConfig for RecMlpConfig {
    type Settings = RecMlpSettings;
    fn from_parts(settings: RecMlpSettings, net: SequentialSpec) -> Result<Self, String> {
        Ok(Self {
            net,
            units: settings.units,
        })
    }
}

impl LayerConfig for RecMlpConfig {
    type Layer = RecMlp;
    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<RecMlp, String> {
        let net = self.net.build(input, ctx)?;
        let hidden: usize = net.output_shape(input)?.iter().product();
        Ok(RecMlp {
            net,
            dense: MyDense::new(hidden, self.units, ctx),
        })
    }
    fn describe(&self) -> String {
        format!("RecMlp({} layers, {})", self.net.len(), self.units)
    }
}

#[derive(Module, Debug)]
pub struct RecMlp {
    pub net: Sequential,
    pub dense: MyDense,
}

impl Layer for RecMlp {
    fn forward(&self, x: Features, ctx: &mut Forward) -> Features {
        // Run through the context, the children show in traces as `rec.net.0`, `rec.dense`.
        let x = ctx.layer("net", &self.net, x);
        ctx.layer("dense", &self.dense, x)
    }
    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        self.dense.output_shape(&self.net.output_shape(input)?)
    }
    fn describe(&self) -> String {
        format!(
            "RecMlp({} layers, {})",
            self.net.len(),
            self.dense.sizes()[1]
        )
    }
    fn torch_name(&self, path: &str) -> TorchName {
        TorchName::child(
            path,
            &[("net", "net", &self.net), ("dense", "dense", &self.dense)],
        )
    }
    /// ONNX: the children's own forms, named `rec.net.0`, ..., `rec.dense`.
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let x = graph.layer("net", &self.net, x)?;
        graph.layer("dense", &self.dense, x)
    }
}

/// The built-in layers plus these four, under the names network files use.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry
        .add::<CenteredLayer>("centered")
        .add::<MyDenseConfig>("my_dense")
        .add::<FancyMlpConfig>("fancy_mlp")
        .add_block::<RecMlpConfig>("rec_mlp");
    registry
}

/// A network of the four blocks among built-in layers, for Fashion-MNIST, as a network file.
/// `hidden` (64 to 64, as article 002's `Dense(4, in_units=4)`) is placed twice (`share`): one
/// layer, shared parameters.
pub const NETWORK: &str = r#"
name = "seed-002-blocks"
input = [1, 28, 28]
classes = 10
init = "xavier_uniform"

layers = [
  { type = "flatten" },
  { type = "centered" },
  { name = "squeeze", type = "my_dense", units = 64 },
  { name = "hidden", type = "my_dense", units = 64 },
  { name = "again", share = "hidden" },
  { name = "fancy", type = "fancy_mlp", hidden = 64, seed = 7 },
  { type = "batch_norm" },
  { name = "rec", type = "rec_mlp", units = 32, layers = [
    { type = "dense", units = 256, activation = "relu" },
    { type = "dense", units = 128, activation = "relu" },
    { type = "dense", units = 64, activation = "relu" },
  ] },
  { name = "output", type = "dense", units = "classes" },
]
"#;

/// The same network written in Rust.
pub fn network_spec() -> SequentialSpec {
    let hidden = inception::nn::Shared::new(MyDenseConfig { units: 64 });
    let rec = SequentialSpec::new()
        .add(DenseConfig::new(256).relu())
        .add(DenseConfig::new(128).relu())
        .add(DenseConfig::new(64).relu());
    SequentialSpec::new()
        .add(inception::nn::Flatten::default())
        .add(CenteredLayer::default())
        .add_named("squeeze", MyDenseConfig { units: 64 })
        .add_named("hidden", hidden.clone())
        .add_named("again", hidden)
        .add_named(
            "fancy",
            FancyMlpConfig {
                hidden: 64,
                seed: 7,
            },
        )
        .add(inception::nn::BatchNormConfig::default())
        .add_named(
            "rec",
            RecMlpConfig {
                net: rec,
                units: 32,
            },
        )
        .add_named("output", DenseConfig::new(10))
}

/// The network file's description (for `inception::train` and checkpoints).
pub fn model_config() -> ModelConfig {
    ModelConfig::from_text(NETWORK, "examples/custom_layers.rs", "seed-002-blocks")
        .expect("the example's network file is valid")
}

fn main() {
    let device = Device::flex();
    let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0, 5.0], &device);
    let centered =
        CenteredLayer::default().forward(Features::Flat(x.unsqueeze()), &mut Forward::inference());
    println!("CenteredLayer([1, 2, 3, 4, 5]) = {}", centered.into_flat());

    let model = model_config()
        .build_with(&registry(), &device)
        .unwrap_or_else(|e| panic!("{e}"));
    let images = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
    let (logits, rows) = model.trace(images, 2);
    for row in &rows {
        println!(
            "{:<14} {:<16} params {:>7}  {}",
            format!("{}{}", "  ".repeat(row.depth), row.path),
            format!("{:?}", row.shape),
            row.params,
            row.description
        );
    }
    println!(
        "logits {:?}, {} parameters",
        logits.dims(),
        model.num_trainable()
    );
    println!(
        "as PyTorch names them: {:?}",
        inception::interop::torch_names(&model)
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    );
    let _ = model.network_name();
}

#[cfg(test)]
mod tests {
    use super::*;
    use inception::data::{locate, FashionMnist, Split};
    use inception::train::{
        checkpoint, resume_with, train, Progress, Silent, TrainConfig, TrainError, TrainObserver,
    };
    use std::path::Path;
    use std::sync::Mutex;

    /// burn keeps one random generator per device for the whole process: the tests that draw
    /// random numbers take turns, so that a run and its resumed twin start from the same
    /// weights.
    static RANDOM: Mutex<()> = Mutex::new(());

    fn take_turn() -> std::sync::MutexGuard<'static, ()> {
        RANDOM
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn logit_bits<N: Classifier>(net: &N, x: Tensor<4>) -> Vec<u32> {
        net.predict(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f32::to_bits)
            .collect()
    }

    fn data() -> (FashionMnist, FashionMnist) {
        let dir = locate(None, true).expect("the real Fashion-MNIST (installed by .ci/run)");
        (
            FashionMnist::load(&dir, Split::Train).unwrap(),
            FashionMnist::load(&dir, Split::Test).unwrap(),
        )
    }

    fn train_config(out: &Path) -> TrainConfig {
        let mut config = TrainConfig::new(model_config());
        config.epochs = 2;
        config.batch_size = 32;
        config.lr = 0.05;
        config.limit_train = Some(320);
        config.limit_test = Some(64);
        config.out_dir = Some(out.to_path_buf());
        config.checkpoint_every = Some(3);
        config
    }

    #[test]
    fn exports_to_onnx_except_the_layer_whose_loop_depends_on_values() {
        use inception::onnx::OnnxError;
        use onnx_protobuf::{Message, ModelProto};
        let device = Device::flex();
        let registry = registry();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blocks.onnx");
        let model = model_config().build_with(&registry, &device).unwrap();
        let error = model.export_onnx(&path).unwrap_err();
        assert!(matches!(&error, OnnxError::Layer { layer, .. } if layer == "fancy"));
        assert!(
            error.to_string().contains("`fancy` (FancyMlp(hidden=64))"),
            "{error}"
        );
        assert!(!path.exists());

        // Without it, the rest exports: the shared layer's weights once, `rec`'s children by
        // their paths.
        let fancy = "  { name = \"fancy\", type = \"fancy_mlp\", hidden = 64, seed = 7 },\n";
        assert!(NETWORK.contains(fancy));
        let text = NETWORK.replace(fancy, "");
        let config = ModelConfig::from_text(&text, "no-fancy.toml", "no-fancy").unwrap();
        config
            .build_with(&registry, &device)
            .unwrap()
            .export_onnx(&path)
            .unwrap();
        let onnx = ModelProto::parse_from_bytes(&std::fs::read(&path).unwrap()).unwrap();
        let gemm: Vec<&str> = onnx
            .graph
            .node
            .iter()
            .filter(|n| n.op_type == "Gemm")
            .map(|n| n.input[1].as_str())
            .collect();
        assert_eq!(
            gemm,
            [
                "squeeze.weight",
                "hidden.weight",
                "hidden.weight",
                "rec.net.0.weight",
                "rec.net.1.weight",
                "rec.net.2.weight",
                "rec.dense.weight",
                "output.weight"
            ]
        );
    }

    #[test]
    fn centered_layer_has_zero_mean() {
        let _turn = take_turn();
        let device = Device::flex();
        let x = Tensor::<2>::random([4, 8], Distribution::Uniform(3.0, 9.0), &device);
        let y = CenteredLayer::default()
            .forward(Features::Flat(x), &mut Forward::inference())
            .into_flat();
        let mean = y.mean().into_scalar::<f32>();
        assert!(mean.abs() < 1e-5, "{mean}");
    }

    #[test]
    fn fancy_mlp_reuses_one_dense_layer_and_bounds_the_norm() {
        let _turn = take_turn();
        let device = Device::flex();
        let mut ctx = Build::new(inception::nn::Init::XavierUniform, &device, 10);
        let fancy = FancyMlpConfig {
            hidden: 20,
            seed: 1,
        }
        .build(&vec![20], &mut ctx)
        .unwrap();
        // One 20x20 dense layer: 420 parameters, though it runs twice; the constant is none.
        assert_eq!(inception::nn::count_params(&fancy), 420);
        let y = fancy
            .forward(
                Features::Flat(Tensor::random([3, 20], Distribution::Default, &device)),
                &mut Forward::inference(),
            )
            .into_flat();
        assert_eq!(y.dims(), [3, 20]);
        assert!(y.powi_scalar(2).sum().sqrt().into_scalar::<f32>() <= 1.0);
    }

    #[test]
    fn the_file_and_the_rust_spec_build_the_same_network_and_trace_it() {
        let _turn = take_turn();
        let device = Device::flex();
        let from_file = model_config().build_with(&registry(), &device).unwrap();
        let (from_rust, out) = network_spec()
            .build_network(
                &vec![1, 28, 28],
                inception::nn::Init::XavierUniform,
                &device,
                10,
            )
            .unwrap();
        assert_eq!(out, vec![10]);
        let names = |params: Vec<inception::nn::NamedParam>| {
            params
                .into_iter()
                .map(|p| (p.name, p.shape))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(from_file.named_params()),
            names(inception::nn::named_params(&from_rust))
        );
        // 784*64+64 (squeeze) + 64*64+64 (hidden, shared: once) + 64*64+64 (fancy) + 2*64
        // (batch norm) + the rec block (64*256+256 + 256*128+128 + 128*64+64 + 64*32+32) +
        // 32*10+10.
        let expected = 784 * 64
            + 64
            + 64 * 64
            + 64
            + 64 * 64
            + 64
            + 2 * 64
            + (64 * 256 + 256)
            + (256 * 128 + 128)
            + (128 * 64 + 64)
            + (64 * 32 + 32)
            + (32 * 10 + 10);
        assert_eq!(from_file.num_trainable(), expected);

        let (_, rows) = from_file.trace(Tensor::zeros([2, 1, 28, 28], &device), 2);
        let row = |path: &str| {
            rows.iter()
                .find(|r| r.path == path)
                .unwrap_or_else(|| panic!("{path}"))
        };
        assert_eq!(row("1").description, "CenteredLayer()");
        assert_eq!(row("1").shape, vec![2, 784]);
        assert_eq!(row("hidden").shape, vec![2, 64]);
        assert_eq!(row("hidden").params, 64 * 64 + 64);
        assert_eq!(row("again").params, 0);
        assert!(row("again")
            .description
            .contains("shares the parameters of `hidden`"));
        assert_eq!(row("fancy").params, 64 * 64 + 64);
        assert_eq!(row("rec").shape, vec![2, 32]);
        assert_eq!(row("rec.net").depth, 1);
        assert_eq!(row("rec.net.1").shape, vec![2, 128]);
        assert_eq!(row("rec.dense").params, 64 * 32 + 32);
        assert_eq!(row("output").shape, vec![2, 10]);
        // MyDense counts its own FLOPs: 2 * batch * in * out.
        assert_eq!(row("squeeze").flops, 2 * 2 * 784 * 64);
    }

    #[test]
    fn a_bad_setting_of_a_user_layer_names_the_line() {
        let text = NETWORK.replace("\"my_dense\", units = 64 }", "\"my_dense\", unit = 64 }");
        let error = ModelConfig::from_text(&text, "net.toml", "x")
            .unwrap()
            .build_with(&registry(), &Device::flex())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("net.toml:10: layer `squeeze`: my_dense: unknown setting `unit`"),
            "{error}"
        );
    }

    /// Stops the run after `after` steps (as Ctrl-C does).
    struct StopAfter {
        after: usize,
        steps: usize,
    }

    impl TrainObserver for StopAfter {
        fn batch_done(&mut self, _: usize) {
            self.steps += 1;
        }
        fn stop_requested(&mut self) -> bool {
            self.steps >= self.after
        }
        fn checkpoint_saved(&mut self, _: &Path, _: &Progress) {}
    }

    #[test]
    fn trains_saves_reloads_resumes_and_exports() {
        let _turn = take_turn();
        let (train_set, test_set) = data();
        let device = Device::flex();
        let registry = registry();
        let build = || model_config().build_with(&registry, &device).unwrap();

        // Uninterrupted: 2 epochs of 10 steps.
        let whole_dir = tempfile::tempdir().unwrap();
        let config = train_config(whole_dir.path());
        let whole = train(
            build(),
            &config,
            &train_set,
            &test_set,
            &device,
            &mut Silent,
        )
        .unwrap();
        let losses: Vec<f64> = whole.epochs.iter().map(|e| e.loss).collect();
        assert!(losses[1] < losses[0], "the loss goes down: {losses:?}");

        // The shared layer is one layer: both places hold the same trained weight.
        let again = whole
            .model
            .body
            .steps()
            .find(|(n, _, _)| *n == "again")
            .unwrap();
        assert_eq!(again.2, Some("hidden"));
        let first = whole
            .model
            .body
            .get("hidden")
            .unwrap()
            .downcast_ref::<MyDense>()
            .unwrap();
        let second = again.1.downcast_ref::<MyDense>().unwrap();
        assert_eq!(first.weight.id, second.weight.id);
        assert_eq!(
            first.weight.val().into_data(),
            second.weight.val().into_data()
        );

        // Saved and reloaded (the checkpoint rebuilds the network from its file): the same
        // logits, bit for bit.
        let x = Tensor::<4>::random([4, 1, 28, 28], Distribution::Default, &device);
        let ckpt = whole_dir.path().join("model.ckpt");
        let loaded = checkpoint::load_with(&ckpt, &device, &registry)
            .unwrap()
            .model;
        assert_eq!(
            logit_bits(&loaded, x.clone()),
            logit_bits(&whole.model, x.clone())
        );
        // And into a network built by the program.
        let (into, _) = checkpoint::load_into(&ckpt, build()).unwrap();
        assert_eq!(
            logit_bits(&into, x.clone()),
            logit_bits(&whole.model, x.clone())
        );

        // Stopped after 13 steps (in epoch 2), resumed: the same weights as the whole run.
        let dir = tempfile::tempdir().unwrap();
        let config = train_config(dir.path());
        let stopped = train(
            build(),
            &config,
            &train_set,
            &test_set,
            &device,
            &mut StopAfter {
                after: 13,
                steps: 0,
            },
        );
        assert!(
            matches!(stopped, Err(TrainError::Interrupted { .. })),
            "{stopped:?}"
        );
        let resumed = resume_with(
            dir.path(),
            build(),
            &train_set,
            &test_set,
            &device,
            &mut Silent,
        )
        .unwrap();
        for (a, b) in resumed.epochs.iter().zip(&whole.epochs) {
            assert_eq!(
                (a.loss.to_bits(), a.test_acc),
                (b.loss.to_bits(), b.test_acc)
            );
        }
        assert_eq!(
            logit_bits(&resumed.model, x.clone()),
            logit_bits(&whole.model, x)
        );

        // Exported for PyTorch: every tensor under its PyTorch name, MyDense's weight as an
        // `nn.Linear` stores it.
        let file = whole_dir.path().join("weights.safetensors");
        inception::interop::export_safetensors(&whole.model, &file, &[]).unwrap();
        let dict = inception::interop::read_state_dict(&file).unwrap();
        assert_eq!(dict.tensors["squeeze.weight"].shape, vec![64, 784]);
        assert_eq!(dict.tensors["hidden.weight"].shape, vec![64, 64]);
        assert_eq!(dict.tensors["fancy.dense.weight"].shape, vec![64, 64]);
        assert_eq!(dict.tensors["rec.net.0.weight"].shape, vec![256, 64]);
        assert_eq!(dict.tensors["rec.dense.weight"].shape, vec![32, 64]);
        assert!(
            !dict.tensors.contains_key("again.weight"),
            "a shared layer is stored once"
        );
        assert_eq!(dict, inception::interop::state_dict(&whole.model));
    }
}
