//! The model zoo: each architecture is a layer tree ([`SequentialSpec`], plus auxiliary heads
//! for the paper's GoogLeNet) built against an input shape, with its seed's recipe beside it.

pub mod alexnet;
pub mod googlenet;
pub mod lenet;
pub mod nin;
pub mod vgg;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use googlenet::PoolMode;

use crate::nn::{Features, Init, Sequential, SequentialSpec, ShapeError, TraceRow, Tracer};

/// The architectures this crate knows.
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

    /// The layer tree (and auxiliary heads) for `config`.
    pub fn spec(self, config: &ModelConfig) -> ModelSpec {
        let classes = config.num_classes;
        let plain = |trunk| ModelSpec {
            trunk,
            aux: Vec::new(),
        };
        match self {
            ModelKind::Lenet => plain(lenet::lenet(classes)),
            ModelKind::Alexnet => plain(alexnet::alexnet(classes)),
            ModelKind::Vgg11 => plain(vgg::vgg11(1, classes)),
            ModelKind::Vgg11Small => plain(vgg::vgg11(8, classes)),
            ModelKind::Nin => plain(nin::nin(classes)),
            ModelKind::Googlenet => plain(googlenet::googlenet(classes)),
            ModelKind::GooglenetBn => plain(googlenet::googlenet_bn(classes)),
            ModelKind::GooglenetPaper => googlenet::googlenet_paper(classes, config.pool_mode),
            ModelKind::GooglenetTorchvision => {
                googlenet::googlenet_torchvision(classes, config.transform_input)
            }
        }
    }

    /// The input the seed uses: channels, height, width.
    pub fn default_input(self) -> [usize; 3] {
        match self {
            ModelKind::Lenet => [1, 28, 28],
            ModelKind::Googlenet | ModelKind::GooglenetBn => [1, 96, 96],
            ModelKind::GooglenetPaper | ModelKind::GooglenetTorchvision => [3, 224, 224],
            ModelKind::Alexnet | ModelKind::Vgg11 | ModelKind::Vgg11Small | ModelKind::Nin => {
                [1, 224, 224]
            }
        }
    }

    /// Xavier for the Gluon seeds (000, 002), PyTorch's default for the PyTorch ones (001, 003).
    pub fn default_init(self) -> Init {
        match self {
            ModelKind::Lenet | ModelKind::Googlenet | ModelKind::GooglenetBn => Init::XavierUniform,
            _ => Init::TorchDefault,
        }
    }

    /// The seed's recipe. Seed 000 for GoogLeNet (SGD lr 0.1, batch 128, 5 epochs, resize 96),
    /// seed 003 for AlexNet, VGG and NiN. Seeds 001/002 give none for LeNet and the batch-norm
    /// GoogLeNets: they get d2l's LeNet batch size and seed 000's recipe.
    pub fn recipe(self) -> Recipe {
        let recipe = |optimizer, lr, batch_size, epochs, resize| Recipe {
            optimizer,
            lr,
            batch_size,
            epochs,
            resize,
        };
        use OptimizerKind::{Adam, Sgd};
        match self {
            ModelKind::Lenet => recipe(Sgd, 0.1, 256, 5, 28),
            ModelKind::Alexnet => recipe(Adam, 0.001, 16, 3, 224),
            ModelKind::Vgg11 | ModelKind::Vgg11Small => recipe(Adam, 0.001, 64, 5, 224),
            ModelKind::Nin => recipe(Adam, 0.002, 128, 5, 224),
            ModelKind::Googlenet | ModelKind::GooglenetBn => recipe(Sgd, 0.1, 128, 5, 96),
            ModelKind::GooglenetPaper | ModelKind::GooglenetTorchvision => {
                recipe(Sgd, 0.1, 128, 5, 224)
            }
        }
    }
}

/// An auxiliary classifier reading the trunk after the child named `after`; its loss counts
/// `weight` times in training, and it does not run in inference.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxSpec {
    pub name: String,
    pub after: String,
    pub head: SequentialSpec,
    pub weight: f64,
}

impl AuxSpec {
    pub fn new(name: &str, after: &str, head: SequentialSpec, weight: f64) -> Self {
        Self {
            name: name.to_string(),
            after: after.to_string(),
            head,
            weight,
        }
    }
}

/// A network before it is built: the trunk and any auxiliary classifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub trunk: SequentialSpec,
    pub aux: Vec<AuxSpec>,
}

/// The largest image side accepted (larger ones would only exhaust memory).
pub const MAX_SIDE: usize = 1024;
/// The most input channels accepted.
pub const MAX_CHANNELS: usize = 64;
/// The most classes accepted (ImageNet-21k has about 21,000).
pub const MAX_CLASSES: usize = 100_000;

/// Everything needed to rebuild a model: stored in every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub kind: ModelKind,
    pub num_classes: usize,
    /// Input channels, height, width.
    pub input: [usize; 3],
    pub init: Init,
    /// Max-pool border handling (GoogLeNet-paper only).
    #[serde(default)]
    pub pool_mode: PoolMode,
    /// torchvision's `transform_input` (GoogLeNet-torchvision on 3-channel input only): the
    /// model takes ImageNet-normalized images and rescales them as its weights expect.
    #[serde(default)]
    pub transform_input: bool,
    /// What the classes are (Fashion-MNIST unless imported).
    #[serde(default)]
    pub labels: Labels,
}

impl ModelConfig {
    /// The name of every class, in label order.
    pub fn class_names(&self) -> Vec<String> {
        (0..self.num_classes)
            .map(|c| self.labels.class_name(c))
            .collect()
    }

    /// The seed's configuration of `kind` for 10 classes.
    pub fn new(kind: ModelKind) -> Self {
        Self {
            kind,
            num_classes: 10,
            input: kind.default_input(),
            init: kind.default_init(),
            pool_mode: PoolMode::default(),
            transform_input: kind == ModelKind::GooglenetTorchvision,
            labels: Labels::FashionMnist,
        }
    }

    /// Sets the input shape; `transform_input` only applies to 3 channels and is dropped for
    /// others (a grayscale GoogLeNet-torchvision trained here has no use for it).
    pub fn with_input(mut self, input: [usize; 3]) -> Self {
        self.input = input;
        if input[0] != 3 {
            self.transform_input = false;
        }
        self
    }

    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// Turns torchvision's `transform_input` on or off (GoogLeNet-torchvision only).
    pub fn with_transform_input(mut self, on: bool) -> Self {
        self.transform_input = on && self.kind == ModelKind::GooglenetTorchvision;
        self
    }

    pub fn with_classes(mut self, num_classes: usize) -> Self {
        self.num_classes = num_classes;
        self
    }

    pub fn with_pool_mode(mut self, pool_mode: PoolMode) -> Self {
        self.pool_mode = pool_mode;
        self
    }

    /// Checks the sizes are possible before anything is built (a checkpoint's configuration
    /// comes from a file, and could say anything).
    pub fn validate(&self) -> Result<(), String> {
        let [channels, height, width] = self.input;
        if !(1..=MAX_CHANNELS).contains(&channels)
            || !(1..=MAX_SIDE).contains(&height)
            || !(1..=MAX_SIDE).contains(&width)
        {
            return Err(format!(
                "input {channels}x{height}x{width} is not possible: channels must be 1..={MAX_CHANNELS} and sides (--resize) 1..={MAX_SIDE}"
            ));
        }
        if !(1..=MAX_CLASSES).contains(&self.num_classes) {
            return Err(format!(
                "{} classes is not possible: 1..={MAX_CLASSES}",
                self.num_classes
            ));
        }
        Ok(())
    }

    /// Builds the model on `device` (weights are initialized lazily, on first use).
    pub fn init(&self, device: &Device) -> Result<Model, ShapeError> {
        self.validate().map_err(|reason| ShapeError {
            layer: "input".to_string(),
            description: self.kind.name().to_string(),
            input: self.input.to_vec(),
            reason,
        })?;
        let spec = self.kind.spec(self);
        let input = self.input.to_vec();
        let (body, _) = spec.trunk.build(&input, self.init, device)?;
        let trunk_shapes = if spec.aux.is_empty() {
            Vec::new()
        } else {
            spec.trunk.shapes(&input)?
        };
        let mut aux = Vec::with_capacity(spec.aux.len());
        for aux_spec in &spec.aux {
            let tapped = trunk_shapes
                .iter()
                .find(|(name, _)| *name == aux_spec.after)
                .map(|(_, shape)| shape.clone())
                .expect("auxiliary heads tap a child of the trunk");
            let root = SequentialSpec::new().add_named(
                &aux_spec.name,
                crate::nn::LayerSpec::Sequential(aux_spec.head.clone()),
            );
            let (head, _) = root.build(&tapped, self.init, device)?;
            aux.push(AuxHead {
                head,
                name: aux_spec.name.clone(),
                after: aux_spec.after.clone(),
                weight: aux_spec.weight,
            });
        }
        Ok(Model {
            body,
            aux,
            config: self.clone(),
        })
    }
}

/// A built auxiliary classifier.
#[derive(Module, Debug)]
pub struct AuxHead {
    /// A one-child `Sequential` named after the head, so errors and traces say `aux1.fc1`.
    pub head: Sequential,
    #[module(skip)]
    pub name: String,
    #[module(skip)]
    pub after: String,
    #[module(skip)]
    pub weight: f64,
}

/// Logits of the main classifier and of each auxiliary one, with its loss weight.
#[derive(Debug, Clone)]
pub struct TrainOutput {
    pub logits: Tensor<2>,
    pub aux: Vec<(f64, Tensor<2>)>,
}

impl TrainOutput {
    /// The training loss: the main cross-entropy plus each auxiliary classifier's, weighted
    /// (0.3 for GoogLeNet-paper). Returns the main logits with it.
    pub fn loss(
        self,
        loss_fn: &burn::nn::loss::CrossEntropyLoss,
        targets: &Tensor<1, burn::tensor::Int>,
    ) -> (Tensor<2>, Tensor<1>) {
        let main = loss_fn.forward(self.logits.clone(), targets.clone());
        let loss = self.aux.into_iter().fold(main, |loss, (weight, aux)| {
            loss + loss_fn.forward(aux, targets.clone()) * weight
        });
        (self.logits, loss)
    }
}

/// A built model: its layers and the configuration they came from.
#[derive(Module, Debug)]
pub struct Model {
    pub body: Sequential,
    pub aux: Vec<AuxHead>,
    #[module(skip)]
    pub config: ModelConfig,
}

impl Model {
    /// Images `[N, C, H, W]` to logits `[N, classes]` (auxiliary heads do not run).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.body.forward_maps(images).into_flat()
    }

    /// The training forward pass: main logits and, if the model has them, auxiliary logits.
    pub fn forward_train(&self, images: Tensor<4>) -> TrainOutput {
        if self.aux.is_empty() {
            return TrainOutput {
                logits: self.forward(images),
                aux: Vec::new(),
            };
        }
        let mut aux = Vec::new();
        let out = self.body.forward_tapped(
            Features::Maps(images),
            "",
            &mut Tracer::off(),
            &mut |name, x, _| {
                for head in self.aux.iter().filter(|h| h.after == name) {
                    aux.push((head.weight, head.head.forward(x.clone()).into_flat()));
                }
            },
        );
        TrainOutput {
            logits: out.into_flat(),
            aux,
        }
    }

    /// Trainable parameters (batch-norm running statistics are not counted).
    pub fn num_trainable(&self) -> usize {
        crate::nn::count_params(self)
    }

    /// Every trainable parameter with its hierarchical name (Gluon's `collect_params`).
    pub fn named_params(&self) -> Vec<crate::nn::NamedParam> {
        let mut params = crate::nn::named_params(&self.body, "");
        for aux in &self.aux {
            params.extend(crate::nn::named_params(&aux.head, ""));
        }
        params
    }

    /// A PyTorch-like printout of the model (`print(net)`).
    pub fn structure(&self) -> String {
        let mut out = self.body.structure(self.config.kind.name());
        for aux in &self.aux {
            let head = aux.head.structure(&format!(
                "{} (after {}, training only)",
                aux.name, aux.after
            ));
            out.push('\n');
            out.push_str(&head);
        }
        out
    }

    /// Runs `images` and records the output shape of every layer down to `max_depth`,
    /// auxiliary heads included (marked as running in training only).
    pub fn trace(&self, images: Tensor<4>, max_depth: usize) -> (Tensor<2>, Vec<TraceRow>) {
        self.trace_with(images, max_depth, Tracer::new())
    }

    /// As [`trace`](Self::trace), with every layer's forward time.
    pub fn profile(&self, images: Tensor<4>, max_depth: usize) -> (Tensor<2>, Vec<TraceRow>) {
        let tracer = Tracer::timed(&images.device());
        self.trace_with(images, max_depth, tracer)
    }

    fn trace_with(
        &self,
        images: Tensor<4>,
        max_depth: usize,
        mut tracer: Tracer,
    ) -> (Tensor<2>, Vec<TraceRow>) {
        let out = self.body.forward_tapped(
            Features::Maps(images),
            "",
            &mut tracer,
            &mut |name, x, tracer| {
                for aux in self.aux.iter().filter(|h| h.after == name) {
                    aux.head.forward_traced(x.clone(), "", tracer);
                    let what = format!(
                        "auxiliary classifier after {name} (training only, loss weight {})",
                        aux.weight
                    );
                    tracer.describe(&aux.name, what);
                }
            },
        );
        (out.into_flat(), tracer.into_rows(max_depth))
    }
}
