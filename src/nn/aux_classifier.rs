//! An auxiliary classifier (GoogLeNet's `InceptionAux`, articles 001 and 004): a small head that
//! reads the trunk at its place and, in training only, adds its own cross-entropy to the loss,
//! weighted (0.3 in the paper). The trunk's features pass through unchanged, so shapes are
//! `[N, ...]` in and out; its logits go to the loss through [`Forward::add_aux_logits`]. In
//! inference the head does not run.


use serde::Deserialize;

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::{Build, Layer, LayerConfig, TorchName};
use super::registry::BlockConfig;
use super::sequential::{Sequential, SequentialSpec};
use crate::onnx::{OnnxGraph, OnnxValue};

/// In a network file `{ name = "aux1", type = "aux_classifier", weight = 0.3, layers = [...] }`.
#[derive(Debug, Clone)]
pub struct AuxClassifierConfig {
    /// How many times its loss counts.
    pub weight: f64,
    pub head: SequentialSpec,
}

impl LayerConfig for AuxClassifierConfig {
    type Layer = AuxClassifier;

    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<AuxClassifier, String> {
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(format!(
                "the loss weight must be a number >= 0, got {}",
                self.weight
            ));
        }
        let head = self.head.build(input, ctx)?;
        let logits = head.output_shape(input)?;
        if logits.len() != 1 {
            return Err(format!(
                "its head must end in class scores (a vector), it ends in {logits:?}"
            ));
        }
        Ok(AuxClassifier {
            head,
            weight: self.weight,
            classes: logits[0],
        })
    }

    fn describe(&self) -> String {
        format!(
            "AuxClassifier({} layers, loss weight {}, training only)",
            self.head.len(),
            self.weight
        )
    }
}

/// A built auxiliary classifier. Its parameters are named as its head's children
/// (`aux1.conv.weight`), as torchvision's `InceptionAux` names them.
#[derive(Debug, Clone)]
pub struct AuxClassifier {
    pub head: Sequential,
    pub weight: f64,
    /// The number of class scores it gives.
    pub classes: usize,
}

crate::transparent_module!(AuxClassifier, head);

impl Layer for AuxClassifier {
    fn forward(&self, x: Features, ctx: &mut Forward) -> Features {
        ctx.mark_training_only();
        if ctx.runs_training_only() {
            let logits = ctx.training_only(|ctx| self.head.forward(x.clone(), ctx));
            ctx.add_aux_logits(self.weight, logits.into_flat());
        }
        x
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        self.head.output_shape(input)?;
        Ok(input.clone())
    }

    fn describe(&self) -> String {
        format!(
            "AuxClassifier(-> {} classes, loss weight {}, training only)",
            self.classes, self.weight
        )
    }

    fn torch_name(&self, path: &str) -> TorchName {
        self.head.torch_name(path)
    }

    /// Training only: the inference graph leaves the head out.
    fn to_onnx(&self, x: OnnxValue, _graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        Ok(x)
    }
}

/// An auxiliary classifier's entry: its loss weight (default 0.3, the paper's).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuxSettings {
    #[serde(default = "paper_weight")]
    pub weight: f64,
}

fn paper_weight() -> f64 {
    0.3
}

impl BlockConfig for AuxClassifierConfig {
    type Settings = AuxSettings;
    fn from_parts(settings: AuxSettings, head: SequentialSpec) -> Result<Self, String> {
        Ok(Self {
            weight: settings.weight,
            head,
        })
    }
}
