//! A model's inference graph as an ONNX file (`inception export --format onnx`).
//!
//! The graph takes `images`, float32 `[batch, C, H, W]` with pixel values in `[0, 1]` (8-bit
//! values / 255) at the model's input size, and gives `logits`, `[batch, classes]` (softmax
//! not applied). The batch size is left open. Inside: the model's normalization when it has
//! one (`Sub`, `Div`), then every layer's inference form (dropout and auxiliary heads left
//! out, batch norm folded into its convolution, torchvision's `transform_input` kept). The
//! metadata holds the class names, the input size, how images are resized and the
//! normalization (as `export --format safetensors` writes them, `inception.*` keys).

use std::path::Path;

use crate::nn::Layer;
use crate::onnx::{OnnxError, OnnxGraph, OnnxModel, OnnxValue, WrittenOnnx, EXTERNAL_DATA_ABOVE};

use super::Model;

/// The graph's input: a batch of images.
pub const ONNX_INPUT: &str = "images";
/// The graph's output: one row of class scores per image.
pub const ONNX_OUTPUT: &str = "logits";

impl Model {
    /// Writes the model's inference graph to `path` as ONNX (opset 17), its weights inside the
    /// file (beside it in `PATH.data` past 2 GiB). Fails naming the layer when one has no ONNX
    /// form (the user's own layer without [`Layer::to_onnx`]); nothing is written then.
    pub fn export_onnx(&self, path: &Path) -> Result<WrittenOnnx, OnnxError> {
        self.export_onnx_with(path, EXTERNAL_DATA_ABOVE)
    }

    /// As [`export_onnx`](Self::export_onnx), with the weights going to a side file when they
    /// take more than `external_above` bytes.
    pub fn export_onnx_with(
        &self,
        path: &Path,
        external_above: usize,
    ) -> Result<WrittenOnnx, OnnxError> {
        let config = &self.config;
        let [c, h, w] = config.input;
        let mut graph = OnnxGraph::new();
        let mut x = OnnxValue::new(ONNX_INPUT, vec![c, h, w]);
        if let Some(normalize) = &config.normalize {
            graph.path = vec!["normalize".into()];
            let mean = graph.constant("mean", &[1, c, 1, 1], &normalize.mean);
            let std = graph.constant("std", &[1, c, 1, 1], &normalize.std);
            let centered = graph.node("Sub", &[&x.name, &mean], &[]);
            let y = graph.node("Div", &[&centered, &std], &[]);
            x = x.with(y, vec![c, h, w]);
            graph.path.clear();
        }
        let out = match self.body.to_onnx(x, &mut graph) {
            Ok(out) => out,
            Err(reason) => {
                return Err(graph.error.take().unwrap_or(OnnxError::Layer {
                    layer: config.name.clone(),
                    description: self.body.describe(),
                    reason,
                }))
            }
        };
        graph.name_output(&out.name, ONNX_OUTPUT);
        let normalized = match &config.normalize {
            Some(_) => "the normalization above is applied inside the graph",
            None => "no normalization",
        };
        let preprocessing = format!(
            "{ONNX_INPUT}: float32 [batch, {c}, {h}, {w}], pixel values / 255 in [0, 1], resized to {h}x{w} (Pillow's bilinear filter; resize_mode says how non-square images are made square); {normalized}"
        );
        let mut metadata = config.export_metadata();
        metadata.push(("inception.preprocessing".into(), preprocessing.clone()));
        metadata.push(("inception.input_name".into(), ONNX_INPUT.into()));
        metadata.push(("inception.output_name".into(), ONNX_OUTPUT.into()));
        let model = OnnxModel {
            graph,
            name: config.name.clone(),
            input: (ONNX_INPUT.into(), vec![c, h, w]),
            output: (ONNX_OUTPUT.into(), out.shape),
            metadata,
            doc: format!(
                "{} (inference graph written by inception {}). Input {preprocessing}. Output {ONNX_OUTPUT}: float32 [batch, {}] class scores (no softmax); class names in the metadata (inception.classes).",
                config.name,
                env!("CARGO_PKG_VERSION"),
                config.num_classes
            ),
        };
        model.write(path, external_above)
    }
}
