//! The layer contract: what every layer and block implements, the built-in ones and the
//! user's own alike.
//!
//! A layer comes in two halves, as in burn-nn (a `Config` and a `Module`) and Gluon (a block
//! before and after its deferred initialization):
//!
//! - a [`LayerConfig`]: its settings, with input sizes left out. `build` learns the input shape,
//!   creates the parameters with the network's initializer and returns the layer, or says why
//!   the input does not fit;
//! - a [`Layer`]: a burn [`Module`] (so it trains, saves and loads) that knows its output shape
//!   for an input shape, runs forward in training or inference, describes itself in one line,
//!   counts its FLOPs and names its tensors as PyTorch does.
//!
//! A layer without settings that depend on the input (an activation, a pooling window, a layer
//! built by hand with fixed sizes) can be its own config: `build` returns a clone.
//!
//! ```
//! use burn::module::Module;
//! use inception::nn::{Build, Features, Forward, Layer, LayerConfig, Shape};
//!
//! /// Subtracts the mean (article 002's `CenteredLayer`): no parameters.
//! #[derive(Module, Debug, Default)]
//! pub struct Centered;
//!
//! impl Layer for Centered {
//!     fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
//!         x.map(|t| t.clone() - t.mean().unsqueeze(), |t| t.clone() - t.mean().unsqueeze())
//!     }
//!     fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
//!         Ok(input.clone())
//!     }
//!     fn describe(&self) -> String {
//!         "Centered()".into()
//!     }
//! }
//!
//! impl LayerConfig for Centered {
//!     type Layer = Self;
//!     fn build(&self, _input: &Shape, _ctx: &mut Build) -> Result<Self, String> {
//!         Ok(self.clone())
//!     }
//!     fn describe(&self) -> String {
//!         Layer::describe(self)
//!     }
//! }
//! ```

use std::collections::HashMap;
use std::fmt::Debug;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::init::Init;
use super::params::{count_params, join, split_path};
use crate::onnx::{OnnxError, OnnxGraph, OnnxValue};

/// A built layer or block.
///
/// Training or inference: [`Forward::is_training`] tells, as `autograd.is_training()` does in
/// Gluon and `self.training` in PyTorch (it is true on an autodiff device, where burn's own
/// dropout and batch norm also switch to their training behaviour).
pub trait Layer: Module + Sync + 'static {
    /// Runs the layer on a batch. A block runs its children through [`Forward::layer`] so that
    /// they show in traces, or directly when they should not.
    fn forward(&self, x: Features, ctx: &mut Forward) -> Features;

    /// The output shape for one example of shape `input` (no batch dimension), or why this
    /// layer cannot take it.
    fn output_shape(&self, input: &Shape) -> Result<Shape, String>;

    /// One line saying what the layer is, in Gluon's words: `Dense(10, Activation(relu))`.
    fn describe(&self) -> String;

    /// Floating-point operations of the layer's own arithmetic for a batch going from `input`
    /// to `output` dims (batch first; a multiply-add counts 2). Children run through
    /// [`Forward::layer`] are counted by the trace and must not be included here. The default,
    /// 0, fits layers without multiplications worth counting (activations, pooling, containers).
    fn flops(&self, _input: &[usize], _output: &[usize]) -> u64 {
        0
    }

    /// PyTorch's name and layout for the tensor at `path`, burn's path of a parameter or
    /// buffer relative to this layer (`weight`, `bn.gamma`, `p1.weight`). The default keeps
    /// burn's path and layout, which is right for a layer whose tensors are its own fields in
    /// PyTorch's layout; a block holding built-in layers forwards to them (see
    /// [`TorchName::child`]).
    fn torch_name(&self, path: &str) -> TorchName {
        TorchName::same(path)
    }

    /// Writes the layer's inference computation into an ONNX graph: reads `x` (a value of the
    /// graph and the shape of one example), adds nodes and weights, and returns its output
    /// (`inception export --format onnx`). A block writes its children through
    /// [`OnnxGraph::layer`] so that their names follow their paths. Optional: the default says
    /// the layer has no ONNX form, and exporting a network that holds it fails naming it.
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let _ = (x, graph);
        Err(NO_ONNX_FORM.into())
    }
}

/// The reason given for a layer that does not implement [`Layer::to_onnx`].
pub const NO_ONNX_FORM: &str =
    "it does not describe itself as ONNX nodes (its type implements `Layer` without `to_onnx`); implement `to_onnx` with the ONNX operators it computes, or leave it out of the exported network";

impl OnnxGraph {
    /// Writes `layer`, a child named `name` of the layer writing now. A failure names the
    /// layer by its full path.
    pub fn layer<L: Layer>(
        &mut self,
        name: &str,
        layer: &L,
        x: OnnxValue,
    ) -> Result<OnnxValue, String> {
        self.path.push(name.to_string());
        let out = layer.to_onnx(x, self);
        if let Err(reason) = &out {
            let error = OnnxError::Layer {
                layer: self.path(),
                description: layer.describe(),
                reason: reason.clone(),
            };
            self.fail(error);
        }
        self.path.pop();
        out
    }
}

impl Forward {
    /// Runs `layer`, a child named `name` of the layer running now, recording it in the trace.
    pub fn layer<L: Layer>(&mut self, name: &str, layer: &L, x: Features) -> Features {
        self.layer_as(name, layer, x, None)
    }

    /// As [`layer`](Self::layer), for the second place of a shared layer first placed as
    /// `shares`: its row says so and counts no parameters.
    pub fn layer_as<L: Layer>(
        &mut self,
        name: &str,
        layer: &L,
        x: Features,
        shares: Option<&str>,
    ) -> Features {
        let slot = self.enter(name, &x, || match shares {
            Some(first) => (
                format!("{} (shares the parameters of `{first}`)", layer.describe()),
                0,
            ),
            None => (layer.describe(), count_params(layer)),
        });
        let out = layer.forward(x, self);
        self.leave(slot, &out, |input, output| layer.flops(input, output));
        out
    }
}

/// A layer's settings before the input size is known (Gluon's deferred initialization).
pub trait LayerConfig: Debug + Clone + Send + Sync + 'static {
    /// What it builds.
    type Layer: Layer;

    /// Builds the layer for one example of shape `input`: creates its parameters with
    /// `ctx.init()` on `ctx.device()`, or says why the input does not fit (the caller adds
    /// which layer it is).
    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<Self::Layer, String>;

    /// One line saying what the layer will be (used in errors before it is built).
    fn describe(&self) -> String;
}

/// How PyTorch stores one tensor: its name and whether its layout differs from burn's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchName {
    pub name: String,
    pub layout: Layout,
}

/// A tensor's layout in PyTorch relative to burn's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The same in both.
    Same,
    /// A matrix transposed: burn's `Linear`/`Dense` weight is `[in, out]`, PyTorch's
    /// `nn.Linear.weight` is `[out, in]`.
    Transposed,
}

impl TorchName {
    /// The same name and layout as burn's.
    pub fn same(path: &str) -> Self {
        Self {
            name: path.to_string(),
            layout: Layout::Same,
        }
    }

    /// A new name, same layout.
    pub fn renamed(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            layout: Layout::Same,
        }
    }

    /// A transposed matrix under `name`.
    pub fn transposed(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            layout: Layout::Transposed,
        }
    }

    /// The name inside a child: `child`'s own rule for `rest`, under the prefix `torch_prefix`.
    /// A block with children `a` and `b` answers
    /// `TorchName::child(path, &[("a", "a", &self.a), ("b", "b", &self.b)])`.
    pub fn child(path: &str, children: &[(&str, &str, &dyn DynTorchNames)]) -> Self {
        let (head, rest) = split_path(path);
        for (field, torch_prefix, child) in children {
            if head == *field {
                return child.torch_name_of(rest).prefixed(torch_prefix);
            }
        }
        Self::same(path)
    }

    /// The same tensor one level down: `prefix.name`.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.name = join(prefix, &self.name);
        self
    }
}

/// Object-safe access to a layer's [`Layer::torch_name`] (for [`TorchName::child`]).
pub trait DynTorchNames {
    fn torch_name_of(&self, path: &str) -> TorchName;
}

impl<L: Layer> DynTorchNames for L {
    fn torch_name_of(&self, path: &str) -> TorchName {
        self.torch_name(path)
    }
}

/// A network cannot be built for the requested input: names the layer and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("layer `{layer}` ({description}) cannot take an input of shape {input:?}: {reason}")]
pub struct ShapeError {
    pub layer: String,
    pub description: String,
    pub input: Shape,
    pub reason: String,
}

/// What a layer needs to build itself: the initializer, the device, the network's number of
/// classes (for layers sized `"classes"`), and the bookkeeping of shared layers.
#[derive(Debug)]
pub struct Build {
    init: Init,
    device: Device,
    classes: usize,
    /// The block holding each `Shared` layer placed so far, by identity.
    pub(crate) shared: HashMap<usize, String>,
    /// The path of the block being built.
    pub(crate) path: Vec<String>,
    /// The error of a layer nested in the one being built, with its full path.
    error: Option<ShapeError>,
}

impl Build {
    pub fn new(init: Init, device: &Device, classes: usize) -> Self {
        Self {
            init,
            device: device.clone(),
            classes,
            shared: HashMap::new(),
            path: Vec::new(),
            error: None,
        }
    }

    /// The initializer of weights (biases start at zero).
    pub fn init(&self) -> Init {
        self.init
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The number of classes the network's classifier has.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The path of the block whose children are being built (`b3`, empty at the top).
    pub fn block_path(&self) -> String {
        self.path.join(".")
    }

    /// Records the error of a nested layer (the block holding it passes it up unchanged).
    pub fn fail(&mut self, error: ShapeError) {
        self.error.get_or_insert(error);
    }

    /// Whether a nested layer has failed.
    pub fn has_error(&self) -> bool {
        self.error.is_some()
    }

    /// The nested layer's error, if one failed.
    pub fn take_error(&mut self) -> Option<ShapeError> {
        self.error.take()
    }
}

/// A size in a layer's settings: a number, or `"classes"` for the number of classes of the
/// network it ends up in (the classifier's `Dense(classes)`, NiN's last convolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Fixed(usize),
    Classes,
}

impl Size {
    /// The number it stands for in the network being built.
    pub fn resolve(self, ctx: &Build) -> usize {
        match self {
            Size::Fixed(n) => n,
            Size::Classes => ctx.classes(),
        }
    }
}

impl From<usize> for Size {
    fn from(n: usize) -> Self {
        Size::Fixed(n)
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Size::Fixed(n) => write!(f, "{n}"),
            Size::Classes => write!(f, "classes"),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Size::Fixed(n) => serializer.serialize_u64(*n as u64),
            Size::Classes => serializer.serialize_str("classes"),
        }
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl serde::de::Visitor<'_> for SizeVisitor {
            type Value = Size;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a positive integer or \"classes\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Size, E> {
                match usize::try_from(v) {
                    Ok(n) if n > 0 => Ok(Size::Fixed(n)),
                    _ => Err(E::custom(format!("{v} is not a positive size"))),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Size, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("{v} is not a positive size"))),
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Size, E> {
                match v {
                    "classes" => Ok(Size::Classes),
                    other => Err(E::custom(format!(
                        "`{other}` is not a size: give a number or \"classes\""
                    ))),
                }
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// Makes a layer without input-dependent settings its own [`LayerConfig`]: `build` checks that
/// the input fits ([`Layer::output_shape`]) and returns a clone.
///
/// ```ignore
/// inception::layer_is_its_own_config!(Centered);
/// ```
#[macro_export]
macro_rules! layer_is_its_own_config {
    ($layer:ty) => {
        impl $crate::nn::LayerConfig for $layer {
            type Layer = Self;
            fn build(
                &self,
                input: &$crate::nn::Shape,
                _ctx: &mut $crate::nn::Build,
            ) -> Result<Self, String> {
                $crate::nn::Layer::output_shape(self, input)?;
                Ok(self.clone())
            }
            fn describe(&self) -> String {
                $crate::nn::Layer::describe(self)
            }
        }
    };
}
