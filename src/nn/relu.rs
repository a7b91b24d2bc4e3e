//! `Activation(relu)`: `max(x, 0)` element-wise, on maps or vectors. No parameters.

use burn::module::Module;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::Layer;
use crate::onnx::{OnnxGraph, OnnxValue};

/// In a network file `{ type = "relu" }`. Its own config.
#[derive(Module, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relu {}

impl Layer for Relu {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        x.map(relu, relu)
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }

    fn describe(&self) -> String {
        "Activation(relu)".into()
    }

    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let y = graph.node("Relu", &[&x.name], &[]);
        Ok(x.with(y, x.shape.clone()))
    }
}

crate::layer_is_its_own_config!(Relu);
