//! `Flatten`: maps `[N, C, H, W]` to vectors `[N, C*H*W]`. No parameters.

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::Layer;
use crate::onnx::{Attr, OnnxGraph, OnnxValue};

/// In a network file `{ type = "flatten" }`. Its own config.
#[derive(Module, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flatten {}

impl Layer for Flatten {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        Features::Flat(x.into_flat())
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(vec![input.iter().product()])
    }

    fn describe(&self) -> String {
        "Flatten()".into()
    }

    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let shape = self.output_shape(&x.shape)?;
        let y = graph.node("Flatten", &[&x.name], &[("axis", Attr::Int(1))]);
        Ok(x.with(y, shape))
    }
}

crate::layer_is_its_own_config!(Flatten);
