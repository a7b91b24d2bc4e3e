//! `Flatten`: maps `[N, C, H, W]` to vectors `[N, C*H*W]`. No parameters.

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::Layer;

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
}

crate::layer_is_its_own_config!(Flatten);
