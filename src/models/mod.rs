//! The model zoo: each architecture is a [`SequentialSpec`] built against an input shape, with
//! its seed's training recipe beside it.

pub mod googlenet;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::nn::{Features, Init, Sequential, SequentialSpec, ShapeError, TraceRow, Tracer};

/// The architectures this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// GoogLeNet as in d2l (seed 000): 1x96x96, no batch norm, 5,977,530 parameters.
    Googlenet,
}

/// Optimizers offered on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Plain mini-batch SGD, as Gluon's `'sgd'` trainer.
    Sgd,
    /// Adam (betas 0.9, 0.999; eps 1e-8 as in PyTorch).
    Adam,
}

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
        }
    }
}

/// A seed's training recipe: the defaults of `inception train --model M`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub resize: usize,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Googlenet => "googlenet",
        }
    }

    /// The layer tree for `num_classes` outputs.
    pub fn spec(self, num_classes: usize) -> SequentialSpec {
        match self {
            ModelKind::Googlenet => googlenet::googlenet(num_classes),
        }
    }

    /// The input the seed uses: channels, height, width.
    pub fn default_input(self) -> [usize; 3] {
        match self {
            ModelKind::Googlenet => [1, 96, 96],
        }
    }

    /// The initializer the seed uses.
    pub fn default_init(self) -> Init {
        match self {
            ModelKind::Googlenet => Init::XavierUniform,
        }
    }

    /// The seed's recipe (seed 000 for GoogLeNet: SGD lr 0.1, batch 128, 5 epochs, resize 96).
    pub fn recipe(self) -> Recipe {
        match self {
            ModelKind::Googlenet => Recipe {
                optimizer: OptimizerKind::Sgd,
                lr: 0.1,
                batch_size: 128,
                epochs: 5,
                resize: 96,
            },
        }
    }
}

/// Everything needed to rebuild a model: stored in every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub kind: ModelKind,
    pub num_classes: usize,
    /// Input channels, height, width.
    pub input: [usize; 3],
    pub init: Init,
}

impl ModelConfig {
    /// The seed's configuration of `kind` for 10 classes.
    pub fn new(kind: ModelKind) -> Self {
        Self {
            kind,
            num_classes: 10,
            input: kind.default_input(),
            init: kind.default_init(),
        }
    }

    pub fn with_input(mut self, input: [usize; 3]) -> Self {
        self.input = input;
        self
    }

    /// Builds the model on `device` (weights are initialized lazily, on first use).
    pub fn init(&self, device: &Device) -> Result<Model, ShapeError> {
        let (body, _) =
            self.kind
                .spec(self.num_classes)
                .build(&self.input.to_vec(), self.init, device)?;
        Ok(Model {
            body,
            config: self.clone(),
        })
    }
}

/// A built model: its layers and the configuration they came from.
#[derive(Module, Debug)]
pub struct Model {
    pub body: Sequential,
    #[module(skip)]
    pub config: ModelConfig,
}

impl Model {
    /// Images `[N, C, H, W]` to logits `[N, classes]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.body.forward_maps(images).into_flat()
    }

    /// Runs `images` and records the output shape of every layer down to `max_depth`.
    pub fn trace(&self, images: Tensor<4>, max_depth: usize) -> (Tensor<2>, Vec<TraceRow>) {
        let mut tracer = Tracer::new(max_depth);
        let out = self
            .body
            .forward_traced(Features::Maps(images), "", &mut tracer);
        (out.into_flat(), tracer.rows)
    }
}
