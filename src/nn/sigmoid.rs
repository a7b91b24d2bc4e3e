//! `Activation(sigmoid)`: `1 / (1 + exp(-x))` element-wise (LeNet's original activation). No
//! parameters.

use burn::module::Module;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::Layer;
use crate::onnx::{OnnxGraph, OnnxValue};

/// In a network file `{ type = "sigmoid" }`. Its own config.
#[derive(Module, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sigmoid {}

impl Layer for Sigmoid {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        x.map(sigmoid, sigmoid)
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }

    fn describe(&self) -> String {
        "Activation(sigmoid)".into()
    }

    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let y = graph.node("Sigmoid", &[&x.name], &[]);
        Ok(x.with(y, x.shape.clone()))
    }
}

crate::layer_is_its_own_config!(Sigmoid);
