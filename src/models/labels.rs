//! What a model's classes are called, and how `predict` prepares an image for them.

use serde::{Deserialize, Serialize};

/// What a model's classes are: gives their names, and how `predict` prepares an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
    /// Every kind of labels.
    pub const ALL: [Labels; 3] = [Labels::FashionMnist, Labels::Imagenet, Labels::Indices];

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
