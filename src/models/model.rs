//! [`Model`]: a network built from a [`ModelConfig`]. Its layers are one `Sequential` (with any
//! auxiliary classifiers in it), and the configuration it came from travels with it into
//! checkpoints.

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};

use super::config::ModelConfig;
use crate::nn::{
    named_params, Classifier, Forward, Layer, NamedParam, Sequential, TorchName, TraceRow,
};

/// A built model: its layers and the configuration they came from.
#[derive(Debug, Clone)]
pub struct Model {
    pub body: Sequential,
    pub config: ModelConfig,
}

// Parameters are named by the layers alone (`b3.0.p1.weight`), as in Gluon and PyTorch.
crate::transparent_module!(Model, body);

impl Classifier for Model {
    fn logits(&self, images: Tensor<4>, ctx: &mut Forward) -> Tensor<2> {
        self.body.logits(images, ctx)
    }

    fn torch_name(&self, path: &str) -> TorchName {
        Layer::torch_name(&self.body, path)
    }

    fn network_name(&self) -> String {
        self.config.name.clone()
    }
}

impl Model {
    /// Images `[N, C, H, W]` to logits `[N, classes]`: inference, or training on an autodiff
    /// device (auxiliary classifiers do not count).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.predict(images)
    }

    /// The training forward pass: the class scores and every auxiliary classifier's.
    pub fn forward_train(&self, images: Tensor<4>) -> crate::nn::TrainOutput {
        Classifier::forward_train(self, images)
    }

    /// Runs `images` and records every layer's output shape down to `max_depth` (auxiliary
    /// classifiers included, marked as training-only).
    pub fn trace(&self, images: Tensor<4>, max_depth: usize) -> (Tensor<2>, Vec<TraceRow>) {
        Classifier::trace(self, images, max_depth)
    }

    /// Trainable parameters (batch-norm running statistics are not counted; a shared
    /// parameter counts once).
    pub fn num_trainable(&self) -> usize {
        crate::nn::count_params(self)
    }

    /// Every trainable parameter with its hierarchical name (Gluon's `collect_params`).
    pub fn named_params(&self) -> Vec<NamedParam> {
        named_params(self)
    }

    /// A trace of one example of the model's input (zeros), every layer at every depth.
    pub fn layers(&self) -> Vec<TraceRow> {
        let [c, h, w] = self.config.input;
        let device = self
            .devices()
            .into_iter()
            .next()
            .unwrap_or_else(burn::tensor::Device::flex)
            .inner();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32; c * h * w], [1, c, h, w]),
            &device,
        );
        self.valid().trace(x, usize::MAX).1
    }

    /// A PyTorch-like printout of the layer tree (what `print(net)` shows).
    pub fn structure(&self) -> String {
        let rows = self.layers();
        let mut out = format!("{}(\n", self.config.name);
        for (i, row) in rows.iter().enumerate() {
            let pad = "  ".repeat(row.depth + 1);
            let leaf = row.path.rsplit('.').next().unwrap_or(&row.path);
            let has_children = rows.get(i + 1).is_some_and(|next| next.depth > row.depth);
            if has_children {
                let head = row
                    .description
                    .split('(')
                    .next()
                    .unwrap_or(&row.description);
                let note = if row.description.starts_with("Sequential(") {
                    String::new()
                } else {
                    format!("  # {}", row.description)
                };
                out += &format!("{pad}({leaf}): {head}({note}\n");
            } else {
                out += &format!("{pad}({leaf}): {}\n", row.description);
            }
            // Close every block that ends here.
            let next_depth = rows.get(i + 1).map_or(0, |next| next.depth);
            for depth in (next_depth..row.depth).rev() {
                out += &format!("{})\n", "  ".repeat(depth + 1));
            }
        }
        out.push(')');
        out
    }
}
