//! The library's choices as command-line values (clap's `ValueEnum`): their names, and the help
//! each shows in `--help`. The library's types know nothing of clap.

use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::data::{BuiltinSet, ResizeMode};
use crate::models::{Labels, ModelKind, OptimizerKind, PoolMode};

impl ValueEnum for ModelKind {
    fn value_variants<'a>() -> &'a [Self] {
        &ModelKind::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            ModelKind::Lenet => "LeNet as in article 002 (Gluon, ReLU): 1x28x28, 170,988 parameters",
            ModelKind::Alexnet => "AlexNet, one channel, dropout 0.5 (article 003): 1x224x224, 46,764,746 parameters",
            ModelKind::Vgg11 => "VGG-11 from its conv_arch (article 003): 1x224x224, 128,806,154 parameters",
            ModelKind::Vgg11Small => "VGG-11 with widths divided by 8 (article 003): 1x224x224, 2,018,346 parameters",
            ModelKind::Nin => "Network in Network (article 003): 1x224x224, 1,992,166 parameters",
            ModelKind::Googlenet => "GoogLeNet as in d2l (article 000): 1x96x96, no batch norm, 5,977,530 parameters",
            ModelKind::GooglenetBn => "GoogLeNet as in d2l with batch-norm conv blocks (article 001's conv_block): 1x96x96",
            ModelKind::GooglenetPaper => "GoogLeNet as in the paper (article 001): 3x224x224, batch norm, two auxiliary classifiers",
            ModelKind::GooglenetTorchvision => "torchvision's GoogLeNet, layer for layer (loads its ImageNet weights): 3x224x224",
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

impl ValueEnum for OptimizerKind {
    fn value_variants<'a>() -> &'a [Self] {
        &OptimizerKind::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            OptimizerKind::Sgd => "Plain mini-batch SGD, as Gluon's 'sgd' trainer",
            OptimizerKind::Adam => "Adam (betas 0.9, 0.999; eps 1e-8 as in PyTorch)",
            OptimizerKind::AdamW => {
                "AdamW: Adam with decoupled weight decay (--weight-decay, e.g. 0.01)"
            }
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

impl ValueEnum for Labels {
    fn value_variants<'a>() -> &'a [Self] {
        &Labels::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            Labels::FashionMnist => "Fashion-MNIST's ten garments; images are read as gray levels in [0, 1]",
            Labels::Mnist => "MNIST's ten digits; images are read as gray levels in [0, 1]",
            Labels::Cifar10 => "CIFAR-10's ten classes; images are read as RGB in [0, 1]",
            Labels::Imagenet => "ImageNet's 1000 classes; images are read as RGB, center-cropped and normalized as torchvision does",
            Labels::Indices => "Classes known by number only",
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

impl ValueEnum for BuiltinSet {
    fn value_variants<'a>() -> &'a [Self] {
        &BuiltinSet::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            BuiltinSet::FashionMnist => {
                "Fashion-MNIST: 70,000 28x28 gray images of clothes, 10 classes"
            }
            BuiltinSet::Mnist => "MNIST: 70,000 28x28 gray handwritten digits",
            BuiltinSet::Cifar10 => "CIFAR-10: 60,000 32x32 colour images, 10 classes",
        };
        Some(PossibleValue::new(self.id()).help(help))
    }
}

impl ValueEnum for PoolMode {
    fn value_variants<'a>() -> &'a [Self] {
        &PoolMode::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for ResizeMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[ResizeMode::Crop, ResizeMode::Stretch]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            ResizeMode::Crop => PossibleValue::new("crop").help(
                "The shorter side to the input's side, keeping the aspect ratio, then the centre \
                 square (torchvision's Resize(side) + CenterCrop(side))",
            ),
            ResizeMode::Stretch => PossibleValue::new("stretch").help(
                "The whole image squeezed to the square (torchvision's Resize((side, side)))",
            ),
        })
    }
}
