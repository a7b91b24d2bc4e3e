//! `Dropout(p)`: in training, zeroes each element with probability `p` and scales the rest by
//! `1 / (1 - p)`; in inference, nothing. The output has the input's shape. No parameters (burn's
//! `Dropout` module; the masks are drawn by [`dropout`] here).
//!
//! The masks come from the CPU's random generator whatever the device computes on: each
//! backend has its own generator (a GPU's draws on the GPU), so drawing there would give a
//! run on a GPU other masks than the same run on the CPU. The training loop seeds the CPU's
//! generator for every step, and the masks travel to the device (a few megabytes a step at
//! most for the zoo: dropout sits on small maps and on the classifier's vectors).

use burn::nn::{Dropout, DropoutConfig as BurnDropoutConfig};
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::{Build, Layer, LayerConfig};
use crate::onnx::{OnnxGraph, OnnxValue};

/// In a network file `{ type = "dropout", p = 0.5 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutConfig {
    pub p: f64,
}

impl DropoutConfig {
    pub fn new(p: f64) -> Self {
        Self { p }
    }
}

impl LayerConfig for DropoutConfig {
    type Layer = Dropout;

    fn build(&self, _input: &Shape, _ctx: &mut Build) -> Result<Dropout, String> {
        if !(0.0..1.0).contains(&self.p) {
            return Err(format!("dropout probability {} is outside [0, 1)", self.p));
        }
        Ok(BurnDropoutConfig::new(self.p).init())
    }

    fn describe(&self) -> String {
        format!("Dropout(p={})", self.p)
    }
}

/// Dropout is burn's own `Dropout` module.
impl Layer for Dropout {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        x.map(|t| dropout(self, t), |t| dropout(self, t))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }

    fn describe(&self) -> String {
        format!("Dropout(p={})", self.prob)
    }

    /// Inference: dropout does nothing, so it leaves no node.
    fn to_onnx(&self, x: OnnxValue, _graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        Ok(x)
    }
}

/// `input` with dropout applied as burn's `Dropout::forward` does (only in training, on an
/// autodiff device), the mask drawn by the CPU's generator (see the module's documentation).
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    let device = input.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return input;
    }
    let keep = 1.0 - layer.prob;
    let mask = if crate::device::is_flex(&device) {
        input.random_like(Distribution::Bernoulli(keep))
    } else {
        Tensor::<D>::random(input.shape(), Distribution::Bernoulli(keep), &Device::flex())
            .to_device(&device)
    };
    input * mask * (1.0 / keep)
}
