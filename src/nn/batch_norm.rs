//! `BatchNorm`: normalization over channels (maps `[N, C, H, W]`) or features (vectors
//! `[N, F]`) with batch statistics in training and moving averages in inference (momentum 0.1,
//! eps 1e-5, as PyTorch). Parameters `gamma [C]`, `beta [C]`; buffers `running_mean`,
//! `running_var`. The output has the input's shape.

use burn::nn::{BatchNorm, BatchNormConfig as BurnBatchNormConfig};
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::{Build, Layer, LayerConfig, TorchName};

/// Batch norm's default epsilon (PyTorch's and Gluon's).
pub const BN_EPS: f64 = 1e-5;

fn bn_eps() -> f64 {
    BN_EPS
}
fn momentum() -> f64 {
    0.1
}

/// `BatchNorm()`; in a network file `{ type = "batch_norm" }` (optionally `eps`, `momentum`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormConfig {
    #[serde(default = "bn_eps")]
    pub eps: f64,
    #[serde(default = "momentum")]
    pub momentum: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        Self {
            eps: BN_EPS,
            momentum: 0.1,
        }
    }
}

impl LayerConfig for BatchNormConfig {
    type Layer = BatchNorm;

    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<BatchNorm, String> {
        if !(self.eps > 0.0 && (0.0..=1.0).contains(&self.momentum)) {
            return Err(format!(
                "eps must be positive and momentum in [0, 1], got eps {} and momentum {}",
                self.eps, self.momentum
            ));
        }
        match input.first() {
            Some(&channels) if channels > 0 => Ok(BurnBatchNormConfig::new(channels)
                .with_epsilon(self.eps)
                .with_momentum(self.momentum)
                .init(ctx.device())),
            _ => Err(format!("batch norm needs a non-empty input, got {input:?}")),
        }
    }

    fn describe(&self) -> String {
        describe(self.eps)
    }
}

fn describe(eps: f64) -> String {
    if eps == BN_EPS {
        "BatchNorm()".into()
    } else {
        format!("BatchNorm(eps={eps})")
    }
}

/// Batch normalization is burn's own `BatchNorm` module.
impl Layer for BatchNorm {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        x.map(|t| BatchNorm::forward(self, t), |t| BatchNorm::forward(self, t))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let channels = self.gamma.lazy_shape().dims::<1>()[0];
        match input.first() {
            Some(&c) if c == channels => Ok(input.clone()),
            _ => Err(format!(
                "it normalizes {channels} channels, the input is {input:?}"
            )),
        }
    }

    fn describe(&self) -> String {
        describe(self.epsilon)
    }

    fn torch_name(&self, path: &str) -> TorchName {
        torch_name(path)
    }
}

/// PyTorch's name of a burn `BatchNorm` tensor: `gamma` and `beta` are `weight` and `bias`.
pub fn torch_name(path: &str) -> TorchName {
    let (prefix, leaf) = path.rsplit_once('.').unwrap_or(("", path));
    let leaf = match leaf {
        "gamma" => "weight",
        "beta" => "bias",
        other => other,
    };
    TorchName::renamed(super::params::join(prefix, leaf))
}
