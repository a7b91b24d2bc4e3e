//! `Dropout(p)`: in training, zeroes each element with probability `p` and scales the rest by
//! `1 / (1 - p)`; in inference, nothing. The output has the input's shape. No parameters (burn's
//! `Dropout`, whose random numbers come from the device's generator).

use burn::nn::{Dropout, DropoutConfig as BurnDropoutConfig};
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::{Build, Layer, LayerConfig};

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
        x.map(|t| Dropout::forward(self, t), |t| Dropout::forward(self, t))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }

    fn describe(&self) -> String {
        format!("Dropout(p={})", self.prob)
    }
}
