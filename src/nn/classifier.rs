//! The network contract of training: anything that maps a batch of images to class scores.
//! The zoo's models, a built `Sequential` and a network written by hand in Rust all train,
//! evaluate, save and resume through it.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::tensor::{Int, Tensor};

use super::features::Features;
use super::forward::{Forward, TraceRow};
use super::layer::{Layer, TorchName};
use super::sequential::Sequential;

/// A network that classifies images: a burn [`Module`] with one method to write.
///
/// ```
/// use burn::module::Module;
/// use burn::nn::{Linear, LinearConfig};
/// use burn::tensor::{Device, Tensor};
/// use inception::nn::{Classifier, Forward};
///
/// #[derive(Module, Debug)]
/// struct Softmax {
///     linear: Linear,
/// }
///
/// impl Classifier for Softmax {
///     fn logits(&self, images: Tensor<4>, _ctx: &mut Forward) -> Tensor<2> {
///         self.linear.forward(images.flatten(1, 3))
///     }
/// }
///
/// let device = Device::flex();
/// let net = Softmax { linear: LinearConfig::new(784, 10).init(&device) };
/// assert_eq!(net.predict(Tensor::zeros([2, 1, 28, 28], &device)).dims(), [2, 10]);
/// ```
pub trait Classifier: Module + 'static {
    /// Images `[N, C, H, W]` to class scores `[N, classes]`. `ctx` says whether this is
    /// training; auxiliary classifiers inside hand it their logits.
    fn logits(&self, images: Tensor<4>, ctx: &mut Forward) -> Tensor<2>;

    /// PyTorch's name and layout of the tensor at burn's path `path` (see
    /// [`Layer::torch_name`]); the default keeps burn's.
    fn torch_name(&self, path: &str) -> TorchName {
        TorchName::same(path)
    }

    /// The network's name in messages: by default its Rust type's.
    fn network_name(&self) -> String {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full).to_string()
    }

    /// Class scores: training on an autodiff device, inference elsewhere (auxiliary
    /// classifiers do not count).
    fn predict(&self, images: Tensor<4>) -> Tensor<2> {
        let mut ctx = Forward::for_device(&images.device());
        self.logits(images, &mut ctx)
    }

    /// The training forward pass: the class scores and every auxiliary classifier's. (burn's
    /// dropout and batch norm train only on an autodiff device, as in the training loop.)
    fn forward_train(&self, images: Tensor<4>) -> TrainOutput {
        let mut ctx = Forward::training();
        let logits = self.logits(images, &mut ctx);
        TrainOutput {
            logits,
            aux: ctx.take_aux_logits(),
        }
    }

    /// Runs `images` and records every layer's output shape down to `max_depth` (auxiliary
    /// classifiers included, marked as training-only).
    fn trace(&self, images: Tensor<4>, max_depth: usize) -> (Tensor<2>, Vec<TraceRow>) {
        let mut ctx = Forward::for_device(&images.device()).traced(true);
        let logits = self.logits(images, &mut ctx);
        (logits, ctx.into_rows(max_depth))
    }

    /// As [`trace`](Self::trace) without the training-only layers, with every layer's time.
    fn profile(&self, images: Tensor<4>, max_depth: usize) -> (Tensor<2>, Vec<TraceRow>) {
        let device = images.device();
        let mut ctx = Forward::for_device(&device).traced(false).timed(&device);
        let logits = self.logits(images, &mut ctx);
        (logits, ctx.into_rows(max_depth))
    }
}

/// A `Sequential` classifies when it ends in class scores.
impl Classifier for Sequential {
    fn logits(&self, images: Tensor<4>, ctx: &mut Forward) -> Tensor<2> {
        Layer::forward(self, Features::Maps(images), ctx).into_flat()
    }

    fn torch_name(&self, path: &str) -> TorchName {
        Layer::torch_name(self, path)
    }
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
        loss_fn: &CrossEntropyLoss,
        targets: &Tensor<1, Int>,
    ) -> (Tensor<2>, Tensor<1>) {
        let main = loss_fn.forward(self.logits.clone(), targets.clone());
        let loss = self.aux.into_iter().fold(main, |loss, (weight, aux)| {
            loss + loss_fn.forward(aux, targets.clone()) * weight
        });
        (self.logits, loss)
    }
}
