//! `Dense`: a fully connected layer, `y = x W + b` (optionally with ReLU). Its input is
//! flattened first, as Gluon's `Dense` does: `[N, *]` to `[N, units]`. Parameters:
//! `weight [in, units]` (burn's layout; PyTorch's `nn.Linear` stores `[units, in]`) and
//! `bias [units]`.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::conv::Activation;
use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::{Build, Layer, LayerConfig, Size, TorchName};
use crate::flex;
use crate::onnx::{Attr, OnnxGraph, OnnxValue};

/// `Dense(units, activation)`; in a network file `{ type = "dense", units = 128,
/// activation = "relu" }` (`units = "classes"` for a classifier).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseConfig {
    pub units: Size,
    #[serde(default)]
    pub activation: Activation,
}

impl DenseConfig {
    pub fn new(units: impl Into<Size>) -> Self {
        Self {
            units: units.into(),
            activation: Activation::None,
        }
    }

    pub fn relu(mut self) -> Self {
        self.activation = Activation::Relu;
        self
    }

    /// Builds the layer for `in_units` inputs.
    pub fn init(&self, in_units: usize, ctx: &mut Build) -> Dense {
        let units = self.units.resolve(ctx);
        let init = ctx.init();
        Dense {
            weight: init.weight([in_units, units], in_units, units, ctx.device()),
            bias: init.bias(units, ctx.device()),
            relu: self.activation == Activation::Relu,
        }
    }
}

impl LayerConfig for DenseConfig {
    type Layer = Dense;

    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<Dense, String> {
        let fan_in: usize = input.iter().product();
        if fan_in == 0 {
            return Err(format!(
                "a dense layer cannot take an empty input {input:?}"
            ));
        }
        if self.units.resolve(ctx) == 0 {
            return Err("a dense layer needs at least one unit".into());
        }
        Ok(self.init(fan_in, ctx))
    }

    fn describe(&self) -> String {
        describe(
            &self.units.to_string(),
            self.activation == Activation::Relu,
        )
    }
}

fn describe(units: &str, relu: bool) -> String {
    format!(
        "Dense({units}{})",
        if relu { ", Activation(relu)" } else { "" }
    )
}

/// A fully connected layer.
#[derive(Module, Debug)]
pub struct Dense {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
    pub relu: bool,
}

impl Dense {
    /// `[N, in]` to `[N, units]` (`crate::flex::dense`: the flex fast path, or burn's ops
    /// elsewhere).
    pub fn forward_flat(&self, x: Tensor<2>) -> Tensor<2> {
        flex::dense(x, self.weight.val(), self.bias.val(), self.relu)
    }

    /// `[in, units]`.
    pub fn sizes(&self) -> [usize; 2] {
        self.weight.lazy_shape().dims::<2>()
    }
}

impl Layer for Dense {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        Features::Flat(self.forward_flat(x.into_flat()))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let [fan_in, units] = self.sizes();
        let given: usize = input.iter().product();
        if given != fan_in {
            return Err(format!(
                "it takes {fan_in} inputs, the input {input:?} has {given}"
            ));
        }
        Ok(vec![units])
    }

    fn describe(&self) -> String {
        describe(&self.sizes()[1].to_string(), self.relu)
    }

    fn flops(&self, _input: &[usize], output: &[usize]) -> u64 {
        2 * output.iter().map(|&d| d as u64).product::<u64>() * self.sizes()[0] as u64
    }

    /// An `nn.Linear`: the weight transposed.
    fn torch_name(&self, path: &str) -> TorchName {
        match path {
            "weight" => TorchName::transposed("weight"),
            other => TorchName::same(other),
        }
    }

    /// A `Gemm` (after a `Flatten` when the input is maps), then `Relu`.
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let shape = self.output_shape(&x.shape)?;
        let input = match x.shape.len() {
            1 => x.name.clone(),
            _ => graph.node("Flatten", &[&x.name], &[("axis", Attr::Int(1))]),
        };
        let key = |what: &str| Some(format!("{}:{what}", self.weight.id));
        let weight = graph.weight("weight", self.weight.val(), key("weight"));
        let bias = graph.weight("bias", self.bias.val(), key("bias"));
        let mut y = graph.node("Gemm", &[&input, &weight, &bias], &[]);
        if self.relu {
            y = graph.node("Relu", &[&y], &[]);
        }
        Ok(x.with(y, shape))
    }
}
