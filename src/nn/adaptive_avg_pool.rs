//! `AdaptiveAvgPool2D`: average pooling to a fixed `size`x`size` output whatever the input
//! (PyTorch's `AdaptiveAvgPool2d`, used by torchvision's auxiliary classifiers). Shapes:
//! `[N, C, H, W]` to `[N, C, size, size]`. No parameters.

use burn::module::Module;
use burn::tensor::module::adaptive_avg_pool2d;
use serde::{Deserialize, Serialize};

use super::features::{expect_maps, Features, Shape};
use super::forward::Forward;
use super::layer::Layer;
use crate::onnx::{Attr, OnnxGraph, OnnxValue};

/// In a network file `{ type = "adaptive_avg_pool", size = 4 }`. Its own config.
#[derive(Module, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveAvgPool {
    pub size: usize,
}

impl Layer for AdaptiveAvgPool {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        Features::Maps(adaptive_avg_pool2d(x.into_maps(), [self.size, self.size]))
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let [c, h, w] = expect_maps(input, "adaptive pooling")?;
        if self.size == 0 || h < self.size || w < self.size {
            return Err(format!(
                "cannot pool a {h}x{w} input to {s}x{s}",
                s = self.size
            ));
        }
        Ok(vec![c, self.size, self.size])
    }

    fn describe(&self) -> String {
        format!("AdaptiveAvgPool2D(output_size={s}x{s})", s = self.size)
    }

    /// ONNX has no adaptive pooling. When the size divides the input, it is an `AveragePool`
    /// (a 6x6 map pooled to 6x6 is one with a 1x1 window); otherwise PyTorch's windows (rows
    /// `floor(i * H / s)` to `ceil((i + 1) * H / s)`) are sliced out and averaged, first along
    /// the rows, then the columns: the mean of a rectangle is the mean of its rows' means.
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let shape = self.output_shape(&x.shape)?;
        let (h, w, s) = (x.shape[1], x.shape[2], self.size);
        if h % s == 0 && w % s == 0 {
            let kernel = Attr::Ints(vec![(h / s) as i64, (w / s) as i64]);
            let attrs = [("kernel_shape", kernel.clone()), ("strides", kernel)];
            let y = graph.node("AveragePool", &[&x.name], &attrs);
            return Ok(x.with(y, shape));
        }
        let mut y = x.name.clone();
        for (axis, size) in [(2usize, h), (3, w)] {
            let cells: Vec<String> = (0..s)
                .map(|i| {
                    let start = i * size / s;
                    let end = ((i + 1) * size).div_ceil(s);
                    let starts = graph.constant_i64("start", &[start as i64]);
                    let ends = graph.constant_i64("end", &[end as i64]);
                    let axes = graph.constant_i64("axis", &[axis as i64]);
                    let cell = graph.node("Slice", &[&y, &starts, &ends, &axes], &[]);
                    let mean = [("axes", Attr::Ints(vec![axis as i64])), ("keepdims", Attr::Int(1))];
                    graph.node("ReduceMean", &[&cell], &mean)
                })
                .collect();
            let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
            y = graph.node("Concat", &cells, &[("axis", Attr::Int(axis as i64))]);
        }
        Ok(x.with(y, shape))
    }
}

crate::layer_is_its_own_config!(AdaptiveAvgPool);
