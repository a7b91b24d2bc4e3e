//! [`Model`]: a network built from a [`ModelConfig`]. Its layers are one `Sequential` (with any
//! auxiliary classifiers in it), and the configuration it came from travels with it into
//! checkpoints.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::config::{ModelConfig, ModelError};
use super::network_file::NetworkFileError;
use crate::nn::{
    named_params, Classifier, Forward, Layer, NamedParam, Registry, Sequential, TorchName, TraceRow,
};

impl ModelConfig {
    /// Builds the network on `device` with the built-in layers (weights are initialized
    /// lazily, on first use).
    pub fn build(&self, device: &Device) -> Result<Model, ModelError> {
        self.build_with(&Registry::builtin(), device)
    }

    /// Builds the network on `device` with the layer types of `registry` (the user's own
    /// layers among them).
    pub fn build_with(&self, registry: &Registry, device: &Device) -> Result<Model, ModelError> {
        self.validate()?;
        let file = self.network_file(registry)?;
        let (body, output) = file
            .layers
            .build_network(&self.input.to_vec(), self.init, device, self.num_classes)
            .map_err(|e| file.shape_error(e))?;
        if output != [self.num_classes] {
            return Err(NetworkFileError {
                origin: self.origin.clone(),
                line: None,
                layer: None,
                message: format!(
                    "the network ends in {output:?}, not in {} class scores; its last layer should be a dense layer of `units = \"classes\"` (or a flatten to that many values)",
                    self.num_classes
                ),
            }
            .into());
        }
        Ok(Model {
            body,
            config: self.clone(),
        })
    }
}

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
        let images = match &self.config.normalize {
            Some(normalize) => normalize.apply(images),
            None => images,
        };
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
