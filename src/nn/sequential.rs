//! `Sequential`: a container assembled at run time, as Gluon's `nn.Sequential()` with `add`.
//!
//! A network is first described by data (a [`SequentialSpec`] tree of [`LayerSpec`]s, with input
//! sizes left out) and then built against an input shape, which fixes every weight's size and
//! fails with a [`ShapeError`] naming the layer when a shape is impossible.

use burn::module::Module;
use burn::nn::{BatchNorm, Dropout, Relu, Sigmoid};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use super::features::{Features, Shape};
use super::inception::{Inception, InceptionSpec};
use super::init::Init;
use super::layers::{
    batch_norm, dropout, global_avg_pool, relu_features, AdaptiveAvgPool, Conv, ConvSpec, Dense,
    DenseSpec, Pool, TransformInput,
};
use super::trace::Tracer;
use super::ShapeError;

/// One layer or block, before it is built.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    Conv(ConvSpec),
    Dense(DenseSpec),
    Pool(Pool),
    AdaptiveAvgPool(usize),
    GlobalAvgPool,
    Flatten,
    /// torchvision GoogLeNet's `transform_input` (ImageNet normalization to [-1, 1]).
    TransformInput,
    Relu,
    Sigmoid,
    Dropout(f64),
    BatchNorm,
    Inception(InceptionSpec),
    Sequential(SequentialSpec),
    /// The earlier sibling of this name again, with the same parameters: Gluon's
    /// `params=net[i].params`, or a layer used twice in one forward pass (seed 002's `FancyMLP`).
    /// Its input must have the shape the sibling's had.
    SharedWith(String),
}

impl LayerSpec {
    /// One line saying what the layer is, in Gluon's words.
    pub fn describe(&self) -> String {
        match self {
            LayerSpec::Conv(c) => c.describe(),
            LayerSpec::Dense(d) => d.describe(),
            LayerSpec::Pool(p) => p.describe(),
            LayerSpec::AdaptiveAvgPool(size) => AdaptiveAvgPool { size: *size }.describe(),
            LayerSpec::TransformInput => TransformInput.describe(),
            LayerSpec::GlobalAvgPool => "GlobalAvgPool2D()".into(),
            LayerSpec::Flatten => "Flatten()".into(),
            LayerSpec::Relu => "Activation(relu)".into(),
            LayerSpec::Sigmoid => "Activation(sigmoid)".into(),
            LayerSpec::Dropout(p) => format!("Dropout(p={p})"),
            LayerSpec::BatchNorm => "BatchNorm()".into(),
            LayerSpec::Inception(i) => i.describe(),
            LayerSpec::Sequential(s) => format!("Sequential({} layers)", s.children.len()),
            LayerSpec::SharedWith(name) => format!("shares the parameters of `{name}`"),
        }
    }

    fn build(
        &self,
        path: &str,
        input: &Shape,
        init: Init,
        device: &Device,
    ) -> Result<(Layer, Shape), ShapeError> {
        let shape_error = |reason: String| ShapeError {
            layer: path.to_string(),
            description: self.describe(),
            input: input.clone(),
            reason,
        };
        let built = match self {
            LayerSpec::Conv(spec) => spec
                .build(input, init, device)
                .map(|(l, s)| (Layer::Conv(l), s)),
            LayerSpec::Dense(spec) => spec
                .build(input, init, device)
                .map(|(l, s)| (Layer::Dense(l), s)),
            LayerSpec::Pool(pool) => pool
                .output_shape(input)
                .map(|s| (Layer::Pool(pool.clone()), s)),
            LayerSpec::AdaptiveAvgPool(size) => {
                let pool = AdaptiveAvgPool { size: *size };
                pool.output_shape(input)
                    .map(|s| (Layer::AdaptiveAvgPool(pool), s))
            }
            LayerSpec::TransformInput => TransformInput
                .output_shape(input)
                .map(|s| (Layer::TransformInput(TransformInput), s)),
            LayerSpec::GlobalAvgPool => match input.as_slice() {
                [c, _, _] => Ok((Layer::GlobalAvgPool(GlobalAvgPool), vec![*c, 1, 1])),
                _ => Err("global pooling needs feature maps CxHxW".to_string()),
            },
            LayerSpec::Flatten => Ok((Layer::Flatten(Flatten), vec![input.iter().product()])),
            LayerSpec::Relu => Ok((Layer::Relu(Relu), input.clone())),
            LayerSpec::Sigmoid => Ok((Layer::Sigmoid(Sigmoid), input.clone())),
            LayerSpec::Dropout(p) => dropout(*p).map(|d| (Layer::Dropout(d), input.clone())),
            LayerSpec::BatchNorm => {
                batch_norm(input, device).map(|b| (Layer::BatchNorm(b), input.clone()))
            }
            LayerSpec::Inception(spec) => spec
                .build(input, init, device)
                .map(|(l, s)| (Layer::Inception(l), s)),
            LayerSpec::Sequential(spec) => {
                return spec
                    .build_at(path, input, init, device)
                    .map(|(l, s)| (Layer::Sequential(l), s))
            }
            LayerSpec::SharedWith(_) => {
                Err("shared layers are resolved by their Sequential".into())
            }
        };
        built.map_err(shape_error)
    }
}

/// A sequence of named layers, described by data. Unnamed children are named by their index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SequentialSpec {
    pub children: Vec<(String, LayerSpec)>,
}

impl SequentialSpec {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer named by its position (`0`, `1`, ...), like Gluon's `add`.
    // Named after Gluon's `Sequential.add`, which users of the seeds know; it is not `a + b`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: LayerSpec) -> Self {
        let name = self.children.len().to_string();
        self.children.push((name, layer));
        self
    }

    /// Appends a layer under a name of its own (`b1`, `dense`, ...).
    pub fn add_named(mut self, name: &str, layer: LayerSpec) -> Self {
        self.children.push((name.to_string(), layer));
        self
    }

    /// The output shape after each child, without building anything.
    pub fn shapes(&self, input: &Shape) -> Result<Vec<(String, Shape)>, ShapeError> {
        // Parameters are initialized lazily, so building only computes shapes.
        let device = burn::tensor::Device::flex();
        let mut shape = input.clone();
        let mut shapes = Vec::with_capacity(self.children.len());
        for (name, spec) in &self.children {
            shape = spec.build(name, &shape, Init::XavierUniform, &device)?.1;
            shapes.push((name.clone(), shape.clone()));
        }
        Ok(shapes)
    }

    /// Builds the network for inputs of `input` (one example, e.g. `[1, 96, 96]`).
    pub fn build(
        &self,
        input: &Shape,
        init: Init,
        device: &Device,
    ) -> Result<(Sequential, Shape), ShapeError> {
        self.build_at("", input, init, device)
    }

    fn build_at(
        &self,
        prefix: &str,
        input: &Shape,
        init: Init,
        device: &Device,
    ) -> Result<(Sequential, Shape), ShapeError> {
        let mut shape = input.clone();
        let mut layers: Vec<Layer> = Vec::with_capacity(self.children.len());
        // Input and output shape of every child built so far, for `SharedWith`.
        let mut shapes: Vec<(Shape, Shape)> = Vec::with_capacity(self.children.len());
        for (name, spec) in &self.children {
            let path = join(prefix, name);
            let (layer, out) = match spec {
                LayerSpec::SharedWith(other) => {
                    let index = self.children[..layers.len()]
                        .iter()
                        .position(|(n, _)| n == other)
                        .ok_or_else(|| ShapeError {
                            layer: path.clone(),
                            description: spec.describe(),
                            input: shape.clone(),
                            reason: format!("no earlier layer is named `{other}`"),
                        })?;
                    let (expected, out) = shapes[index].clone();
                    if expected != shape {
                        return Err(ShapeError {
                            layer: path,
                            description: spec.describe(),
                            input: shape,
                            reason: format!("`{other}` takes inputs of shape {expected:?}"),
                        });
                    }
                    // A clone of a burn module holds the same parameters (same ids, same tensors).
                    (layers[index].clone(), out)
                }
                _ => spec.build(&path, &shape, init, device)?,
            };
            shapes.push((shape.clone(), out.clone()));
            layers.push(layer);
            shape = out;
        }
        let names = self.children.iter().map(|(n, _)| n.clone()).collect();
        Ok((Sequential { layers, names }, shape))
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Global average pooling to 1x1.
#[derive(Module, Debug, Default)]
pub struct GlobalAvgPool;

/// Flattens maps `[N, C, H, W]` to vectors `[N, C*H*W]`.
#[derive(Module, Debug, Default)]
pub struct Flatten;

/// A built layer.
// An Inception block is inline rather than boxed: layers are built once per model, so the
// enum's size costs nothing, and burn's `Module` derive works on plain fields.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Layer {
    Conv(Conv),
    Dense(Dense),
    Pool(Pool),
    AdaptiveAvgPool(AdaptiveAvgPool),
    GlobalAvgPool(GlobalAvgPool),
    Flatten(Flatten),
    TransformInput(TransformInput),
    Relu(Relu),
    Sigmoid(Sigmoid),
    Dropout(Dropout),
    BatchNorm(BatchNorm),
    Inception(Inception),
    Sequential(Sequential),
}

impl Layer {
    pub fn forward(&self, x: Features) -> Features {
        self.forward_traced(x, "", &mut Tracer::off())
    }

    fn forward_traced(&self, x: Features, path: &str, tracer: &mut Tracer) -> Features {
        match self {
            Layer::Conv(conv) => Features::Maps(conv.forward(x.into_maps())),
            Layer::Dense(dense) => Features::Flat(dense.forward(x.into_flat())),
            Layer::Pool(pool) => Features::Maps(pool.forward(x.into_maps())),
            Layer::AdaptiveAvgPool(pool) => Features::Maps(pool.forward(x.into_maps())),
            Layer::TransformInput(t) => Features::Maps(t.forward(x.into_maps())),
            Layer::GlobalAvgPool(_) => Features::Maps(global_avg_pool(x.into_maps())),
            Layer::Flatten(_) => Features::Flat(x.into_flat()),
            Layer::Relu(_) => relu_features(x),
            Layer::Sigmoid(_) => x.map(sigmoid, sigmoid),
            Layer::Dropout(d) => x.map(|t| d.forward(t), |t| d.forward(t)),
            Layer::BatchNorm(b) => x.map(|t| b.forward(t), |t| b.forward(t)),
            Layer::Inception(block) => Features::Maps(block.forward(x.into_maps())),
            Layer::Sequential(seq) => seq.forward_traced(x, path, tracer),
        }
    }

    /// One line saying what the layer is.
    pub fn describe(&self) -> String {
        match self {
            Layer::Conv(c) => c.spec().describe(),
            Layer::Dense(d) => {
                let [_, units] = d.weight.dims();
                DenseSpec {
                    units,
                    relu: d.relu,
                }
                .describe()
            }
            Layer::Pool(p) => p.describe(),
            Layer::AdaptiveAvgPool(p) => p.describe(),
            Layer::TransformInput(t) => t.describe(),
            Layer::Inception(i) => i.spec().describe(),
            Layer::GlobalAvgPool(_) => LayerSpec::GlobalAvgPool.describe(),
            Layer::Flatten(_) => LayerSpec::Flatten.describe(),
            Layer::Relu(_) => LayerSpec::Relu.describe(),
            Layer::Sigmoid(_) => LayerSpec::Sigmoid.describe(),
            Layer::Dropout(d) => LayerSpec::Dropout(d.prob).describe(),
            Layer::BatchNorm(_) => LayerSpec::BatchNorm.describe(),
            Layer::Sequential(s) => format!("Sequential({} layers)", s.layers.len()),
        }
    }
}

/// A built sequence of named layers.
#[derive(Module, Debug)]
pub struct Sequential {
    pub layers: Vec<Layer>,
    #[module(skip)]
    pub names: Vec<String>,
}

impl Sequential {
    pub fn forward(&self, x: Features) -> Features {
        self.forward_traced(x, "", &mut Tracer::off())
    }

    /// Feature maps in, whatever the last layer makes out.
    pub fn forward_maps(&self, x: Tensor<4>) -> Features {
        self.forward(Features::Maps(x))
    }

    /// Runs the layers, recording each one's output shape in `tracer`.
    pub fn forward_traced(&self, x: Features, prefix: &str, tracer: &mut Tracer) -> Features {
        self.forward_tapped(x, prefix, tracer, &mut |_, _, _| {})
    }

    /// As [`forward_traced`](Self::forward_traced), calling `tap` with each child's name and
    /// output (how auxiliary classifiers read the trunk).
    pub fn forward_tapped(
        &self,
        mut x: Features,
        prefix: &str,
        tracer: &mut Tracer,
        tap: &mut dyn FnMut(&str, &Features, &mut Tracer),
    ) -> Features {
        for (name, layer) in self.names.iter().zip(&self.layers) {
            let path = join(prefix, name);
            let slot = tracer.open(&path, layer, &x);
            x = layer.forward_traced(x, &path, tracer);
            tracer.close(slot, layer, &x);
            tap(name, &x, tracer);
        }
        x
    }

    /// A PyTorch-like printout of the structure (what `print(net)` shows), titled `title`.
    pub fn structure(&self, title: &str) -> String {
        let mut out = format!("{title}(\n");
        self.write_structure(&mut out, 1);
        out.push(')');
        out
    }

    fn write_structure(&self, out: &mut String, indent: usize) {
        let pad = "  ".repeat(indent);
        for (name, layer) in self.children() {
            match layer {
                Layer::Sequential(inner) => {
                    out.push_str(&format!("{pad}({name}): Sequential(\n"));
                    inner.write_structure(out, indent + 1);
                    out.push_str(&format!("{pad})\n"));
                }
                Layer::Inception(block) => {
                    let spec = block.spec();
                    let kind = spec.kind_name();
                    out.push_str(&format!(
                        "{pad}({name}): {kind}(  # {} channels\n",
                        spec.out_channels()
                    ));
                    for (branch, conv) in block.convs() {
                        out.push_str(&format!("{pad}  ({branch}): {}\n", conv.spec().describe()));
                        if branch == "p3_2" {
                            out.push_str(&format!("{pad}  (p4_1): {}\n", block.p4_1.describe()));
                        }
                    }
                    out.push_str(&format!("{pad})\n"));
                }
                leaf => out.push_str(&format!("{pad}({name}): {}\n", leaf.describe())),
            }
        }
    }

    /// The named children.
    pub fn children(&self) -> impl Iterator<Item = (&str, &Layer)> {
        self.names.iter().map(String::as_str).zip(&self.layers)
    }
}
