//! torchvision GoogLeNet's `transform_input`: turns an image normalized with the ImageNet mean
//! and standard deviation into one scaled to [-1, 1] per channel, which the original Google
//! weights expect: `x[c] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5`. Shapes: `[N, 3, H, W]`
//! unchanged. No parameters.

use burn::module::Module;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::features::{expect_maps, Features, Shape};
use super::forward::Forward;
use super::layer::Layer;
use crate::onnx::{OnnxGraph, OnnxValue};

/// In a network file `{ type = "transform_input" }`. Its own config.
#[derive(Module, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformInput {}

impl TransformInput {
    /// ImageNet's per-channel mean (RGB).
    pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    /// ImageNet's per-channel standard deviation (RGB).
    pub const STD: [f32; 3] = [0.229, 0.224, 0.225];
}

impl Layer for TransformInput {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        let x = x.into_maps();
        // Per channel, in the order torchvision computes it (multiply, then add), so float32
        // rounding matches.
        let channels = (0..3)
            .map(|c| {
                let scale = Self::STD[c] / 0.5;
                let shift = (Self::MEAN[c] - 0.5) / 0.5;
                x.clone()
                    .narrow(1, c, 1)
                    .mul_scalar(scale)
                    .add_scalar(shift)
            })
            .collect();
        Features::Maps(Tensor::cat(channels, 1))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        match expect_maps(input, "transform_input")? {
            [3, _, _] => Ok(input.clone()),
            [c, _, _] => Err(format!(
                "transform_input works on 3-channel RGB images, not {c} channels"
            )),
        }
    }

    fn describe(&self) -> String {
        "TransformInput(ImageNet normalization to [-1, 1])".to_string()
    }

    /// `x * scale + shift` with per-channel constants, the order `forward` computes in.
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let shape = self.output_shape(&x.shape)?;
        let scale: Vec<f32> = (0..3).map(|c| Self::STD[c] / 0.5).collect();
        let shift: Vec<f32> = (0..3).map(|c| (Self::MEAN[c] - 0.5) / 0.5).collect();
        let scale = graph.constant("scale", &[1, 3, 1, 1], &scale);
        let shift = graph.constant("shift", &[1, 3, 1, 1], &shift);
        let y = graph.node("Mul", &[&x.name, &scale], &[]);
        let y = graph.node("Add", &[&y, &shift], &[]);
        Ok(x.with(y, shape))
    }
}

crate::layer_is_its_own_config!(TransformInput);
