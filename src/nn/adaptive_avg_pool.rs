//! `AdaptiveAvgPool2D`: average pooling to a fixed `size`x`size` output whatever the input
//! (PyTorch's `AdaptiveAvgPool2d`, used by torchvision's auxiliary classifiers). Shapes:
//! `[N, C, H, W]` to `[N, C, size, size]`. No parameters.

use burn::module::Module;
use burn::tensor::module::adaptive_avg_pool2d;
use serde::{Deserialize, Serialize};

use super::features::{expect_maps, Features, Shape};
use super::forward::Forward;
use super::layer::Layer;

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
}

crate::layer_is_its_own_config!(AdaptiveAvgPool);
