//! `MaxPool2D`: the maximum of each square window. Padding counts as minus infinity;
//! `ceil_mode` rounds the output size up as PyTorch does (article 004). Shapes: `[N, C, H, W]` to
//! `[N, C, H', W']` with `H' = (H + 2 * padding - kernel) / stride + 1`. No parameters.
//!
//! On burn's flex CPU backend it runs a vectorized kernel of ours (`crate::flex::max_pool2d`).

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape, Window};
use super::forward::Forward;
use super::layer::Layer;
use crate::onnx::{OnnxGraph, OnnxValue};
use crate::flex;

/// `MaxPool2D(pool_size=kernel, strides=stride, padding=padding)`; in a network file
/// `{ type = "max_pool", kernel = 3, stride = 2, padding = 1 }`. Its own config.
#[derive(Module, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaxPool {
    #[module(skip)]
    pub window: Window,
}

impl MaxPool {
    pub fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Window::new(kernel, stride, padding).into()
    }

    /// Round the output size up (PyTorch `ceil_mode=True`).
    pub fn ceil(self) -> Self {
        self.window.ceil().into()
    }
}

impl From<Window> for MaxPool {
    fn from(window: Window) -> Self {
        Self { window }
    }
}

impl Layer for MaxPool {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        let w = self.window;
        let x = x.into_maps();
        Features::Maps(flex::max_pool2d(x, w.kernel, w.stride, w.padding, w.ceil_mode))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        self.window.output_shape(input)
    }

    fn describe(&self) -> String {
        self.window.describe("Max")
    }

    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let shape = self.output_shape(&x.shape)?;
        let y = graph.node("MaxPool", &[&x.name], &self.window.onnx_attrs());
        Ok(x.with(y, shape))
    }
}

crate::layer_is_its_own_config!(MaxPool);
