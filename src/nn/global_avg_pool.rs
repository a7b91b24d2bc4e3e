//! `GlobalAvgPool2D`: the mean of each channel. Shapes: `[N, C, H, W]` to `[N, C, 1, 1]`. No
//! parameters.

use burn::module::Module;
use burn::tensor::module::adaptive_avg_pool2d;
use serde::{Deserialize, Serialize};

use super::features::{expect_maps, Features, Shape};
use super::forward::Forward;
use super::layer::Layer;
use crate::onnx::{OnnxGraph, OnnxValue};

/// In a network file `{ type = "global_avg_pool" }`. Its own config.
#[derive(Module, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalAvgPool {}

impl Layer for GlobalAvgPool {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        Features::Maps(adaptive_avg_pool2d(x.into_maps(), [1, 1]))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let [c, _, _] = expect_maps(input, "global pooling")?;
        Ok(vec![c, 1, 1])
    }

    fn describe(&self) -> String {
        "GlobalAvgPool2D()".into()
    }

    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let shape = self.output_shape(&x.shape)?;
        let y = graph.node("GlobalAveragePool", &[&x.name], &[]);
        Ok(x.with(y, shape))
    }
}

crate::layer_is_its_own_config!(GlobalAvgPool);
