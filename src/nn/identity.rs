//! `Identity`: passes its input on unchanged (a placeholder, as PyTorch's `nn.Identity`). No
//! parameters.

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::Layer;
use crate::onnx::{OnnxGraph, OnnxValue};

/// In a network file `{ type = "identity" }`. Its own config.
#[derive(Module, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {}

impl Layer for Identity {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        x
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }

    fn describe(&self) -> String {
        "Identity()".into()
    }

    fn to_onnx(&self, x: OnnxValue, _graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        Ok(x)
    }
}

crate::layer_is_its_own_config!(Identity);
