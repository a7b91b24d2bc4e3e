//! The model zoo and networks as descriptions: every zoo model is a network file (the format a
//! user writes, `zoo/*.toml`, built into the binary) with its seed's training recipe. A
//! [`ModelConfig`] says which network (its file's text, or a network written in Rust), for what
//! input and classes; a [`Model`] is one built from it.

mod config;
mod model;
pub mod network_file;

use serde::{Deserialize, Serialize};

pub use config::{ModelConfig, ModelError, PoolMode, MAX_CHANNELS, MAX_CLASSES, MAX_SIDE};
pub use model::Model;
pub use network_file::{NetworkFile, NetworkFileError};

/// The architectures of the zoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// LeNet as in seed 002 (Gluon, ReLU): 1x28x28, 170,988 parameters.
    Lenet,
    /// AlexNet, one channel, dropout 0.5 (seed 003): 1x224x224, 46,764,746 parameters.
    Alexnet,
    /// VGG-11 from its conv_arch (seed 003): 1x224x224, 128,806,154 parameters.
    Vgg11,
    /// VGG-11 with widths divided by 8 (seed 003): 1x224x224, 2,018,346 parameters.
    Vgg11Small,
    /// Network in Network (seed 003): 1x224x224, 1,992,166 parameters.
    Nin,
    /// GoogLeNet as in d2l (seed 000): 1x96x96, no batch norm, 5,977,530 parameters.
    Googlenet,
    /// GoogLeNet as in d2l with batch-norm conv blocks (seed 001's conv_block): 1x96x96.
    GooglenetBn,
    /// GoogLeNet as in the paper (seed 001): 3x224x224, batch norm, two auxiliary classifiers.
    GooglenetPaper,
    /// torchvision's GoogLeNet, layer for layer (loads its ImageNet weights): 3x224x224.
    GooglenetTorchvision,
}

impl ModelKind {
    /// Every model, in the order of the zoo.
    pub const ALL: [ModelKind; 9] = [
        ModelKind::Lenet,
        ModelKind::Alexnet,
        ModelKind::Vgg11,
        ModelKind::Vgg11Small,
        ModelKind::Nin,
        ModelKind::Googlenet,
        ModelKind::GooglenetBn,
        ModelKind::GooglenetPaper,
        ModelKind::GooglenetTorchvision,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Lenet => "lenet",
            ModelKind::Alexnet => "alexnet",
            ModelKind::Vgg11 => "vgg11",
            ModelKind::Vgg11Small => "vgg11-small",
            ModelKind::Nin => "nin",
            ModelKind::Googlenet => "googlenet",
            ModelKind::GooglenetBn => "googlenet-bn",
            ModelKind::GooglenetPaper => "googlenet-paper",
            ModelKind::GooglenetTorchvision => "googlenet-torchvision",
        }
    }

    /// The zoo model called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Its network file, as built into the binary (`inception net show NAME` prints it).
    pub fn network_file(self) -> &'static str {
        match self {
            ModelKind::Lenet => include_str!("zoo/lenet.toml"),
            ModelKind::Alexnet => include_str!("zoo/alexnet.toml"),
            ModelKind::Vgg11 => include_str!("zoo/vgg11.toml"),
            ModelKind::Vgg11Small => include_str!("zoo/vgg11-small.toml"),
            ModelKind::Nin => include_str!("zoo/nin.toml"),
            ModelKind::Googlenet => include_str!("zoo/googlenet.toml"),
            ModelKind::GooglenetBn => include_str!("zoo/googlenet-bn.toml"),
            ModelKind::GooglenetPaper => include_str!("zoo/googlenet-paper.toml"),
            ModelKind::GooglenetTorchvision => include_str!("zoo/googlenet-torchvision.toml"),
        }
    }

    /// The input the seed uses: channels, height, width.
    pub fn default_input(self) -> [usize; 3] {
        ModelConfig::new(self).input
    }

    /// The seed's recipe (each zoo file has one).
    pub fn recipe(self) -> Recipe {
        ModelConfig::new(self)
            .recipe()
            .expect("every zoo file has a [recipe]")
    }
}

/// Optimizers offered on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Plain mini-batch SGD, as Gluon's `'sgd'` trainer.
    Sgd,
    /// Adam (betas 0.9, 0.999; eps 1e-8 as in PyTorch).
    Adam,
    /// AdamW: Adam with decoupled weight decay (`--weight-decay`, e.g. 0.01).
    #[value(name = "adamw")]
    #[serde(rename = "adamw")]
    AdamW,
}

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
        }
    }
}

/// What a model's classes are: gives their names, and how `predict` prepares an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Labels {
    /// Fashion-MNIST's ten garments; images are read as gray levels in [0, 1].
    #[default]
    FashionMnist,
    /// ImageNet's 1000 classes; images are read as RGB, center-cropped and normalized as
    /// torchvision does.
    Imagenet,
    /// Classes known by number only.
    Indices,
}

impl Labels {
    pub fn name(self) -> &'static str {
        match self {
            Labels::FashionMnist => "fashion-mnist",
            Labels::Imagenet => "imagenet",
            Labels::Indices => "indices",
        }
    }

    /// The name of class `index`, or its number when there is none.
    pub fn class_name(self, index: usize) -> String {
        let known = match self {
            Labels::FashionMnist => crate::data::CLASS_NAMES.get(index).copied(),
            Labels::Imagenet => crate::interop::imagenet::class_name(index),
            Labels::Indices => None,
        };
        known.map_or_else(|| format!("class {index}"), str::to_string)
    }

    /// The labels that go with `num_classes` classes when nothing else says.
    pub fn guess(num_classes: usize) -> Self {
        match num_classes {
            10 => Labels::FashionMnist,
            1000 => Labels::Imagenet,
            _ => Labels::Indices,
        }
    }
}

/// A training recipe: the defaults of `inception train` for a network (a network file's
/// `[recipe]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// The side images are resized to.
    pub resize: usize,
}
