//! `AvgPool2D`: the mean of each square window, padding counted (as both Gluon and PyTorch do
//! by default). Shapes as `MaxPool2D`. No parameters.

use burn::module::Module;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape, Window};
use super::forward::Forward;
use super::layer::Layer;
use crate::onnx::{Attr, OnnxGraph, OnnxValue};

/// `AvgPool2D(pool_size=kernel, strides=stride, padding=padding)`; in a network file
/// `{ type = "avg_pool", kernel = 5, stride = 3 }`. Its own config.
#[derive(Module, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AvgPool {
    #[module(skip)]
    pub window: Window,
}

impl AvgPool {
    pub fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Window::new(kernel, stride, padding).into()
    }

    /// Round the output size up (PyTorch `ceil_mode=True`).
    pub fn ceil(self) -> Self {
        self.window.ceil().into()
    }
}

impl From<Window> for AvgPool {
    fn from(window: Window) -> Self {
        Self { window }
    }
}

impl Layer for AvgPool {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        let w = self.window;
        let (k, s, p) = (w.kernel, w.stride, w.padding);
        Features::Maps(avg_pool2d(
            x.into_maps(),
            AvgPoolOptions {
                kernel_size: [k, k],
                stride: [s, s],
                padding: [(p, p), (p, p)],
                count_include_pad: true,
                ceil_mode: w.ceil_mode,
            },
        ))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        self.window.output_shape(input)
    }

    fn describe(&self) -> String {
        self.window.describe("Avg")
    }

    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let shape = self.output_shape(&x.shape)?;
        let mut attrs = self.window.onnx_attrs();
        // Padding counts in the average, as in PyTorch's default and `forward`.
        attrs.push(("count_include_pad", Attr::Int(1)));
        let y = graph.node("AveragePool", &[&x.name], &attrs);
        Ok(x.with(y, shape))
    }
}

crate::layer_is_its_own_config!(AvgPool);
