//! [`AnyLayer`] and [`AnyConfig`]: any layer or config behind one type, so that a `Sequential`
//! holds built-in layers and the user's own side by side.
//!
//! burn's [`Module`] trait cannot be a trait object: it requires `Clone`, and its `visit` and
//! `map` are generic over the visitor and over each tensor's rank. So a boxed layer gets a
//! `Module` implementation written here: its visitors and mappers travel through object-safe
//! forms ([`ErasedVisitor`], [`ErasedMapper`]) that carry each parameter as `dyn Any` and turn
//! it back into the `Param<Tensor<D>>` it is (ranks 1 to [`MAX_RANK`]). Everything else a
//! module does (devices, autodiff on and off, records) is forwarded to the layer inside. burn
//! has no such type of its own; the `bimm` project bridges its visitors the same way.

use std::any::Any;
use std::fmt::Debug;

use burn::module::{Devices, Flag, Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Bool, Device, Int, Tensor};

use super::features::{Features, Shape};
use super::forward::Forward;
use super::layer::{Build, Layer, LayerConfig, TorchName};
use crate::onnx::{OnnxGraph, OnnxValue};

/// The highest tensor rank a boxed layer's parameters may have.
pub const MAX_RANK: usize = 8;

/// Any built layer: a built-in one or the user's own, behind one type that is itself a burn
/// [`Module`] and a [`Layer`].
pub struct AnyLayer(Box<dyn DynLayer>);

impl AnyLayer {
    /// Boxes `layer` (an `AnyLayer` stays as it is).
    pub fn new<L: Layer>(layer: L) -> Self {
        let boxed: Box<dyn Any> = Box::new(layer);
        match boxed.downcast::<AnyLayer>() {
            Ok(any) => *any,
            Err(other) => {
                let layer = *other.downcast::<L>().expect("the box holds an L");
                AnyLayer(Box::new(layer))
            }
        }
    }

    /// The layer inside, if it is an `L`.
    pub fn downcast_ref<L: Layer>(&self) -> Option<&L> {
        self.0.as_any().downcast_ref::<L>()
    }

    /// The Rust type of the layer inside (for messages).
    pub fn type_name(&self) -> &'static str {
        self.0.type_name()
    }
}

impl Clone for AnyLayer {
    fn clone(&self) -> Self {
        AnyLayer(self.0.clone_box())
    }
}

impl Debug for AnyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Module for AnyLayer {
    fn collect_devices(&self, devices: Devices) -> Devices {
        self.0.collect_devices_dyn(devices)
    }
    fn fork(self, device: &Device) -> Self {
        AnyLayer(self.0.fork_dyn(device))
    }
    fn to_device(self, device: &Device) -> Self {
        AnyLayer(self.0.to_device_dyn(device))
    }
    fn train(self) -> Self {
        AnyLayer(self.0.train_dyn())
    }
    fn valid(&self) -> Self {
        AnyLayer(self.0.valid_dyn())
    }
    fn materialize(self) -> Self {
        AnyLayer(self.0.materialize_dyn())
    }
    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        self.0.visit_dyn(&mut EraseVisitor(visitor));
    }
    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        AnyLayer(self.0.map_dyn(&mut EraseMapper(mapper)))
    }
}

/// burn's module printout (`Display` of a module holding one) shows the layer's description.
impl burn::module::ModuleDisplayDefault for AnyLayer {
    fn content(&self, content: burn::module::Content) -> Option<burn::module::Content> {
        content.add_formatted(&self.describe()).optional()
    }
}

impl burn::module::ModuleDisplay for AnyLayer {}

impl Layer for AnyLayer {
    fn forward(&self, x: Features, ctx: &mut Forward) -> Features {
        self.0.forward_dyn(x, ctx)
    }
    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        self.0.output_shape_dyn(input)
    }
    fn describe(&self) -> String {
        self.0.describe_dyn()
    }
    fn flops(&self, input: &[usize], output: &[usize]) -> u64 {
        self.0.flops_dyn(input, output)
    }
    fn torch_name(&self, path: &str) -> TorchName {
        self.0.torch_name_dyn(path)
    }
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        self.0.to_onnx_dyn(x, graph)
    }
}

/// The object-safe form of `Module + Layer`, implemented for every [`Layer`].
trait DynLayer: Send + Sync + Debug {
    fn clone_box(&self) -> Box<dyn DynLayer>;
    fn as_any(&self) -> &dyn Any;
    fn type_name(&self) -> &'static str;
    fn collect_devices_dyn(&self, devices: Devices) -> Devices;
    fn fork_dyn(self: Box<Self>, device: &Device) -> Box<dyn DynLayer>;
    fn to_device_dyn(self: Box<Self>, device: &Device) -> Box<dyn DynLayer>;
    fn train_dyn(self: Box<Self>) -> Box<dyn DynLayer>;
    fn valid_dyn(&self) -> Box<dyn DynLayer>;
    fn materialize_dyn(self: Box<Self>) -> Box<dyn DynLayer>;
    fn visit_dyn(&self, visitor: &mut dyn ErasedVisitor);
    fn map_dyn(self: Box<Self>, mapper: &mut dyn ErasedMapper) -> Box<dyn DynLayer>;
    fn forward_dyn(&self, x: Features, ctx: &mut Forward) -> Features;
    fn output_shape_dyn(&self, input: &Shape) -> Result<Shape, String>;
    fn describe_dyn(&self) -> String;
    fn flops_dyn(&self, input: &[usize], output: &[usize]) -> u64;
    fn torch_name_dyn(&self, path: &str) -> TorchName;
    fn to_onnx_dyn(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String>;
}

impl<L: Layer> DynLayer for L {
    fn clone_box(&self) -> Box<dyn DynLayer> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<L>()
    }
    fn collect_devices_dyn(&self, devices: Devices) -> Devices {
        self.collect_devices(devices)
    }
    fn fork_dyn(self: Box<Self>, device: &Device) -> Box<dyn DynLayer> {
        Box::new((*self).fork(device))
    }
    fn to_device_dyn(self: Box<Self>, device: &Device) -> Box<dyn DynLayer> {
        Box::new((*self).to_device(device))
    }
    fn train_dyn(self: Box<Self>) -> Box<dyn DynLayer> {
        Box::new((*self).train())
    }
    fn valid_dyn(&self) -> Box<dyn DynLayer> {
        Box::new(self.valid())
    }
    fn materialize_dyn(self: Box<Self>) -> Box<dyn DynLayer> {
        Box::new((*self).materialize())
    }
    fn visit_dyn(&self, visitor: &mut dyn ErasedVisitor) {
        self.visit(&mut UneraseVisitor(visitor));
    }
    fn map_dyn(self: Box<Self>, mapper: &mut dyn ErasedMapper) -> Box<dyn DynLayer> {
        Box::new((*self).map(&mut UneraseMapper(mapper)))
    }
    fn forward_dyn(&self, x: Features, ctx: &mut Forward) -> Features {
        self.forward(x, ctx)
    }
    fn output_shape_dyn(&self, input: &Shape) -> Result<Shape, String> {
        self.output_shape(input)
    }
    fn describe_dyn(&self) -> String {
        self.describe()
    }
    fn flops_dyn(&self, input: &[usize], output: &[usize]) -> u64 {
        self.flops(input, output)
    }
    fn torch_name_dyn(&self, path: &str) -> TorchName {
        self.torch_name(path)
    }
    fn to_onnx_dyn(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        self.to_onnx(x, graph)
    }
}

/// A [`ModuleVisitor`] in object-safe form: parameters arrive as `&dyn Any`.
trait ErasedVisitor {
    fn enter_module(&mut self, name: &str, container_type: &str);
    fn exit_module(&mut self, name: &str, container_type: &str);
    fn visit_float(&mut self, param: &dyn Any);
    fn visit_int(&mut self, param: &dyn Any);
    fn visit_bool(&mut self, param: &dyn Any);
    fn visit_flag(&mut self, flag: &Param<Flag>);
}

/// A [`ModuleMapper`] in object-safe form: parameters travel as `Box<dyn Any>`.
trait ErasedMapper {
    fn enter_module(&mut self, name: &str, container_type: &str);
    fn exit_module(&mut self, name: &str, container_type: &str);
    fn map_float(&mut self, param: Box<dyn Any>) -> Box<dyn Any>;
    fn map_int(&mut self, param: Box<dyn Any>) -> Box<dyn Any>;
    fn map_bool(&mut self, param: Box<dyn Any>) -> Box<dyn Any>;
    fn map_flag(&mut self, flag: Param<Flag>) -> Param<Flag>;
}

fn unsupported_rank() -> ! {
    panic!("a layer's parameter has a tensor rank above {MAX_RANK}, which AnyLayer does not carry")
}

/// Calls `$body` with `$param` downcast to `&Param<Tensor<D, $kind>>` for the `D` it has.
macro_rules! with_rank_ref {
    ($param:expr, $kind:ty, |$p:ident| $body:expr) => {{
        let any: &dyn Any = $param;
        with_rank_ref!(@try any, $kind, $p, $body, 1, 2, 3, 4, 5, 6, 7, 8)
    }};
    (@try $any:ident, $kind:ty, $p:ident, $body:expr, $($d:literal),*) => {{
        $(
            if let Some($p) = $any.downcast_ref::<Param<Tensor<$d, $kind>>>() {
                return $body;
            }
        )*
        unsupported_rank()
    }};
}

/// Calls `$body` with `$param` unboxed to `Param<Tensor<D, $kind>>` and boxes the result.
macro_rules! with_rank_box {
    ($param:expr, $kind:ty, |$p:ident| $body:expr) => {{
        let mut boxed: Box<dyn Any> = $param;
        with_rank_box!(@try boxed, $kind, $p, $body, 1, 2, 3, 4, 5, 6, 7, 8)
    }};
    (@try $boxed:ident, $kind:ty, $p:ident, $body:expr, $($d:literal),*) => {{
        $(
            $boxed = match $boxed.downcast::<Param<Tensor<$d, $kind>>>() {
                Ok($p) => {
                    let $p = *$p;
                    return Box::new($body);
                }
                Err(other) => other,
            };
        )*
        drop($boxed);
        unsupported_rank()
    }};
}

/// A generic visitor seen through the object-safe interface.
struct EraseVisitor<'a, V>(&'a mut V);

impl<V: ModuleVisitor> ErasedVisitor for EraseVisitor<'_, V> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.0.enter_module(name, container_type);
    }
    fn exit_module(&mut self, name: &str, container_type: &str) {
        self.0.exit_module(name, container_type);
    }
    fn visit_float(&mut self, param: &dyn Any) {
        with_rank_ref!(param, burn::tensor::Float, |p| self.0.visit_float(p))
    }
    fn visit_int(&mut self, param: &dyn Any) {
        with_rank_ref!(param, Int, |p| self.0.visit_int(p))
    }
    fn visit_bool(&mut self, param: &dyn Any) {
        with_rank_ref!(param, Bool, |p| self.0.visit_bool(p))
    }
    fn visit_flag(&mut self, flag: &Param<Flag>) {
        self.0.visit_flag(flag);
    }
}

/// The object-safe interface seen as a generic visitor again, for the layer inside.
struct UneraseVisitor<'a>(&'a mut dyn ErasedVisitor);

impl ModuleVisitor for UneraseVisitor<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.0.enter_module(name, container_type);
    }
    fn exit_module(&mut self, name: &str, container_type: &str) {
        self.0.exit_module(name, container_type);
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.visit_float(param);
    }
    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        self.0.visit_int(param);
    }
    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        self.0.visit_bool(param);
    }
    fn visit_flag(&mut self, flag: &Param<Flag>) {
        self.0.visit_flag(flag);
    }
}

/// A generic mapper seen through the object-safe interface.
struct EraseMapper<'a, M>(&'a mut M);

impl<M: ModuleMapper> ErasedMapper for EraseMapper<'_, M> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.0.enter_module(name, container_type);
    }
    fn exit_module(&mut self, name: &str, container_type: &str) {
        self.0.exit_module(name, container_type);
    }
    fn map_float(&mut self, param: Box<dyn Any>) -> Box<dyn Any> {
        with_rank_box!(param, burn::tensor::Float, |p| self.0.map_float(p))
    }
    fn map_int(&mut self, param: Box<dyn Any>) -> Box<dyn Any> {
        with_rank_box!(param, Int, |p| self.0.map_int(p))
    }
    fn map_bool(&mut self, param: Box<dyn Any>) -> Box<dyn Any> {
        with_rank_box!(param, Bool, |p| self.0.map_bool(p))
    }
    fn map_flag(&mut self, flag: Param<Flag>) -> Param<Flag> {
        self.0.map_flag(flag)
    }
}

/// The object-safe interface seen as a generic mapper again, for the layer inside.
struct UneraseMapper<'a>(&'a mut dyn ErasedMapper);

/// Takes back the parameter type that went into an erased mapper.
fn unbox<T: 'static>(value: Box<dyn Any>) -> T {
    *value
        .downcast::<T>()
        .expect("an erased mapper returns the parameter type it was given")
}

impl ModuleMapper for UneraseMapper<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.0.enter_module(name, container_type);
    }
    fn exit_module(&mut self, name: &str, container_type: &str) {
        self.0.exit_module(name, container_type);
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        unbox(self.0.map_float(Box::new(param)))
    }
    fn map_int<const D: usize>(&mut self, param: Param<Tensor<D, Int>>) -> Param<Tensor<D, Int>> {
        unbox(self.0.map_int(Box::new(param)))
    }
    fn map_bool<const D: usize>(
        &mut self,
        param: Param<Tensor<D, Bool>>,
    ) -> Param<Tensor<D, Bool>> {
        unbox(self.0.map_bool(Box::new(param)))
    }
    fn map_flag(&mut self, flag: Param<Flag>) -> Param<Flag> {
        self.0.map_flag(flag)
    }
}

/// Any layer config, built-in or the user's own, behind one type.
pub struct AnyConfig {
    inner: Box<dyn DynConfig>,
    /// Set for a [`Shared`] config: its identity.
    share: Option<usize>,
}

impl AnyConfig {
    /// Boxes `config` (an `AnyConfig` stays as it is; a [`Shared`] keeps its identity).
    pub fn new<C: LayerConfig>(config: C) -> Self {
        let boxed: Box<dyn Any> = Box::new(config);
        let boxed = match boxed.downcast::<AnyConfig>() {
            Ok(any) => return *any,
            Err(other) => other,
        };
        match boxed.downcast::<Shared>() {
            Ok(shared) => AnyConfig {
                share: Some(shared.id()),
                inner: Box::new(*shared),
            },
            Err(other) => AnyConfig {
                inner: Box::new(*other.downcast::<C>().expect("the box holds a C")),
                share: None,
            },
        }
    }

    /// The identity of a [`Shared`] config: every place it is added shares one layer.
    pub fn share_id(&self) -> Option<usize> {
        self.share
    }

    /// The config inside, if it is a `C`.
    pub fn downcast_ref<C: LayerConfig>(&self) -> Option<&C> {
        self.inner.as_any().downcast_ref::<C>()
    }
}

impl Clone for AnyConfig {
    fn clone(&self) -> Self {
        AnyConfig {
            inner: self.inner.clone_box(),
            share: self.share,
        }
    }
}

impl Debug for AnyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl LayerConfig for AnyConfig {
    type Layer = AnyLayer;
    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<AnyLayer, String> {
        self.inner.build_dyn(input, ctx)
    }
    fn describe(&self) -> String {
        self.inner.describe_dyn()
    }
}

/// The object-safe form of [`LayerConfig`].
trait DynConfig: Send + Sync + Debug {
    fn clone_box(&self) -> Box<dyn DynConfig>;
    fn as_any(&self) -> &dyn Any;
    fn build_dyn(&self, input: &Shape, ctx: &mut Build) -> Result<AnyLayer, String>;
    fn describe_dyn(&self) -> String;
}

impl<C: LayerConfig> DynConfig for C {
    fn clone_box(&self) -> Box<dyn DynConfig> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn build_dyn(&self, input: &Shape, ctx: &mut Build) -> Result<AnyLayer, String> {
        self.build(input, ctx).map(AnyLayer::new)
    }
    fn describe_dyn(&self) -> String {
        self.describe()
    }
}

/// One layer placed in several places of a `Sequential`, sharing its parameters by
/// construction: Gluon's `params=net[-1].params`, PyTorch's module used twice. Clone the handle
/// and add each clone; the `Sequential` builds the layer once, and every place runs that one
/// layer (one tensor per parameter, one gradient: the sum of all places' contributions).
///
/// ```
/// use inception::nn::{DenseConfig, SequentialSpec, Shared};
///
/// let hidden = Shared::new(DenseConfig::new(4).relu());
/// let net = SequentialSpec::new().add(hidden.clone()).add(hidden).add(DenseConfig::new(1));
/// ```
#[derive(Clone, Debug)]
pub struct Shared(std::sync::Arc<AnyConfig>);

impl Shared {
    pub fn new<C: LayerConfig>(config: C) -> Self {
        Shared(std::sync::Arc::new(AnyConfig::new(config)))
    }

    /// The identity all clones of this handle have.
    pub fn id(&self) -> usize {
        std::sync::Arc::as_ptr(&self.0) as usize
    }
}

impl LayerConfig for Shared {
    type Layer = AnyLayer;
    fn build(&self, input: &Shape, ctx: &mut Build) -> Result<AnyLayer, String> {
        self.0.build(input, ctx)
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

/// A layer built already (with fixed sizes) used as its own config: `build` checks the input
/// fits and hands out a clone, which holds the same parameters. The same built layer added to
/// a `Sequential` twice is one shared layer.
#[derive(Clone, Debug)]
pub struct Prebuilt<L>(pub L);

impl<L: Layer> LayerConfig for Prebuilt<L> {
    type Layer = L;
    fn build(&self, input: &Shape, _ctx: &mut Build) -> Result<L, String> {
        self.0.output_shape(input)?;
        Ok(self.0.clone())
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

/// burn's `Module` for a struct that wraps one module field (`$field`) plus plain settings,
/// without a level of its own in parameter names: the wrapper's parameters are named as the
/// wrapped module's (`aux1.conv.weight`, not `aux1.head.conv.weight`).
#[macro_export]
#[doc(hidden)]
macro_rules! transparent_module {
    ($type:ty, $field:ident) => {
        impl burn::module::Module for $type {
            fn collect_devices(&self, devices: burn::module::Devices) -> burn::module::Devices {
                self.$field.collect_devices(devices)
            }
            fn fork(mut self, device: &burn::tensor::Device) -> Self {
                self.$field = self.$field.fork(device);
                self
            }
            fn to_device(mut self, device: &burn::tensor::Device) -> Self {
                self.$field = self.$field.to_device(device);
                self
            }
            fn train(mut self) -> Self {
                self.$field = self.$field.train();
                self
            }
            fn valid(&self) -> Self {
                let mut out = self.clone();
                out.$field = self.$field.valid();
                out
            }
            fn materialize(mut self) -> Self {
                self.$field = self.$field.materialize();
                self
            }
            fn visit<V: burn::module::ModuleVisitor>(&self, visitor: &mut V) {
                self.$field.visit(visitor)
            }
            fn map<M: burn::module::ModuleMapper>(mut self, mapper: &mut M) -> Self {
                self.$field = self.$field.map(mapper);
                self
            }
        }

        impl burn::module::ModuleDisplayDefault for $type {
            fn content(&self, content: burn::module::Content) -> Option<burn::module::Content> {
                burn::module::ModuleDisplayDefault::content(&self.$field, content)
            }
        }

        impl burn::module::ModuleDisplay for $type {}
    };
}
