//! What a model's classes are called, and how `predict` prepares an image for them.

use serde::{Deserialize, Serialize};

use crate::data::BuiltinSet;

/// What a model's classes are: gives their names, and how `predict` prepares an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Labels {
    /// Fashion-MNIST's ten garments; images are read as gray levels in [0, 1].
    #[default]
    FashionMnist,
    /// MNIST's ten digits; images are read as gray levels in [0, 1].
    Mnist,
    /// CIFAR-10's ten classes; images are read as RGB in [0, 1].
    Cifar10,
    /// ImageNet's 1000 classes; images are read as RGB, center-cropped and normalized as
    /// torchvision does.
    Imagenet,
    /// Classes known by number only.
    Indices,
}

impl Labels {
    /// Every kind of labels.
    pub const ALL: [Labels; 5] = [
        Labels::FashionMnist,
        Labels::Mnist,
        Labels::Cifar10,
        Labels::Imagenet,
        Labels::Indices,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Labels::FashionMnist => "fashion-mnist",
            Labels::Mnist => "mnist",
            Labels::Cifar10 => "cifar10",
            Labels::Imagenet => "imagenet",
            Labels::Indices => "indices",
        }
    }

    /// The name of class `index`, or its number when there is none.
    pub fn class_name(self, index: usize) -> String {
        let known = match self.dataset() {
            Some(set) => set.class_names().get(index).copied(),
            None if self == Labels::Imagenet => crate::interop::imagenet::class_name(index),
            None => None,
        };
        known.map_or_else(|| format!("class {index}"), str::to_string)
    }

    /// The labels of a built-in dataset.
    pub fn of_dataset(set: BuiltinSet) -> Self {
        match set {
            BuiltinSet::FashionMnist => Labels::FashionMnist,
            BuiltinSet::Mnist => Labels::Mnist,
            BuiltinSet::Cifar10 => Labels::Cifar10,
        }
    }

    /// The built-in dataset these labels are the classes of, if one.
    pub fn dataset(self) -> Option<BuiltinSet> {
        match self {
            Labels::FashionMnist => Some(BuiltinSet::FashionMnist),
            Labels::Mnist => Some(BuiltinSet::Mnist),
            Labels::Cifar10 => Some(BuiltinSet::Cifar10),
            Labels::Imagenet | Labels::Indices => None,
        }
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
