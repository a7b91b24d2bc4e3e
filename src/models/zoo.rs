//! The zoo: nine classic networks, each a network file built into the binary
//! (`zoo/*.toml`, the format users write) with its article's recipe.

use serde::{Deserialize, Serialize};

use super::network_file::Header;
use super::recipe::Recipe;

/// The architectures of the zoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// LeNet as in article 002 (Gluon, ReLU): 1x28x28, 170,988 parameters.
    Lenet,
    /// AlexNet, one channel, dropout 0.5 (article 003): 1x224x224, 46,764,746 parameters.
    Alexnet,
    /// VGG-11 from its conv_arch (article 003): 1x224x224, 128,806,154 parameters.
    Vgg11,
    /// VGG-11 with widths divided by 8 (article 003): 1x224x224, 2,018,346 parameters.
    Vgg11Small,
    /// Network in Network (article 003): 1x224x224, 1,992,166 parameters.
    Nin,
    /// GoogLeNet as in d2l (article 000): 1x96x96, no batch norm, 5,977,530 parameters.
    Googlenet,
    /// GoogLeNet as in d2l with batch-norm conv blocks (article 001's conv_block): 1x96x96.
    GooglenetBn,
    /// GoogLeNet as in the paper (article 001): 3x224x224, batch norm, two auxiliary classifiers.
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

    /// The head of its network file (name, input, classes, initializer, recipe).
    pub fn header(self) -> Header {
        Header::read(self.network_file(), &self.origin())
            .unwrap_or_else(|e| panic!("the zoo's {} file is valid: {e}", self.name()))
    }

    /// `zoo:NAME`: where its network file comes from, in messages.
    pub fn origin(self) -> String {
        format!("zoo:{}", self.name())
    }

    /// The input the seed uses: channels, height, width.
    pub fn default_input(self) -> [usize; 3] {
        self.header().input.expect("every zoo file gives its input")
    }

    /// The article's recipe (each zoo file has one).
    pub fn recipe(self) -> Recipe {
        self.header().recipe.expect("every zoo file has a [recipe]")
    }
}
