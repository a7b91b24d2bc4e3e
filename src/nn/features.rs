//! What flows between layers: feature maps `[N, C, H, W]` or flat vectors `[N, F]`, and the
//! shape arithmetic every windowed layer shares.

use burn::tensor::Tensor;

use crate::onnx::Attr;

pub use crate::flex::window_output;

/// The value passed from layer to layer. Convolutions and pooling work on maps; dense layers
/// flatten whatever they get (as Gluon's `Dense` does) and produce vectors.
#[derive(Debug, Clone)]
pub enum Features {
    Maps(Tensor<4>),
    Flat(Tensor<2>),
}

impl Features {
    /// The full shape, batch first.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Features::Maps(t) => t.dims().to_vec(),
            Features::Flat(t) => t.dims().to_vec(),
        }
    }

    /// As feature maps; a flat `[N, F]` becomes `[N, F, 1, 1]`.
    pub fn into_maps(self) -> Tensor<4> {
        match self {
            Features::Maps(t) => t,
            Features::Flat(t) => {
                let [n, f] = t.dims();
                t.reshape([n, f, 1, 1])
            }
        }
    }

    /// As vectors `[N, C*H*W]`.
    pub fn into_flat(self) -> Tensor<2> {
        match self {
            Features::Maps(t) => t.flatten(1, 3),
            Features::Flat(t) => t,
        }
    }

    /// Applies an element-wise function whatever the rank.
    pub fn map(
        self,
        f4: impl FnOnce(Tensor<4>) -> Tensor<4>,
        f2: impl FnOnce(Tensor<2>) -> Tensor<2>,
    ) -> Self {
        match self {
            Features::Maps(t) => Features::Maps(f4(t)),
            Features::Flat(t) => Features::Flat(f2(t)),
        }
    }
}

/// Shape of one example (no batch dimension): `[C, H, W]` or `[F]`.
pub type Shape = Vec<usize>;

/// Formats a shape with the batch in front, as the articles print it: `(1, 64, 24, 24)`.
pub fn format_shape(batch: usize, shape: &[usize]) -> String {
    let dims: Vec<String> = std::iter::once(batch)
        .chain(shape.iter().copied())
        .map(|d| d.to_string())
        .collect();
    format!("({})", dims.join(", "))
}

/// The input as feature maps `[C, H, W]`, or why `what` cannot take it.
pub fn expect_maps(input: &Shape, what: &str) -> Result<[usize; 3], String> {
    match input.as_slice() {
        [c, h, w] => Ok([*c, *h, *w]),
        other => Err(format!(
            "{what} needs feature maps CxHxW, got a vector of shape {other:?}"
        )),
    }
}

/// The output maps of a square `kernel` window with `stride` and `padding` over `input`, or why
/// it does not fit (`what` says what the window is: "a 3x3 kernel", "a 2x2 window").
pub fn window_maps(
    input: &Shape,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    ceil: bool,
    what: &str,
) -> Result<Shape, String> {
    let [_, h, w] = expect_maps(input, what)?;
    let out = |len| window_output(len, kernel, stride, padding, ceil);
    match (out(h), out(w)) {
        (Some(oh), Some(ow)) => Ok(vec![out_channels, oh, ow]),
        _ if stride == 0 => Err(format!("{what} with stride 0 is not possible")),
        _ => Err(format!(
            "a {kernel}x{kernel} {kind} with padding {padding} does not fit a {h}x{w} input",
            kind = if what.contains("pool") {
                "window"
            } else {
                "kernel"
            }
        )),
    }
}

/// A square pooling window: its side, stride and padding, and whether the output size rounds
/// up (PyTorch's `ceil_mode`). In a network file `kernel`, `stride` (default: the kernel, as in
/// Gluon and PyTorch), `padding` (default 0) and `ceil_mode` (default false).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "WindowSettings")]
pub struct Window {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub ceil_mode: bool,
}

impl Window {
    /// ONNX's attributes of a pooling node over this window.
    pub fn onnx_attrs(&self) -> Vec<(&'static str, Attr)> {
        vec![
            ("kernel_shape", Attr::pair(self.kernel)),
            ("strides", Attr::pair(self.stride)),
            ("pads", Attr::pads(self.padding)),
            ("ceil_mode", Attr::Int(self.ceil_mode as i64)),
        ]
    }

    pub fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            kernel,
            stride,
            padding,
            ceil_mode: false,
        }
    }

    /// Round the output size up (PyTorch's `ceil_mode=True`).
    pub fn ceil(mut self) -> Self {
        self.ceil_mode = true;
        self
    }

    /// The output maps for `input`, or why the window does not fit (PyTorch's rules, which
    /// also refuse padding of more than half the window).
    pub fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        if 2 * self.padding > self.kernel {
            return Err(format!(
                "padding {} is more than half the {k}x{k} window",
                self.padding,
                k = self.kernel
            ));
        }
        let channels = input.first().copied().unwrap_or(0);
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        window_maps(input, channels, k, s, p, self.ceil_mode, "pooling")
    }

    /// `MaxPool2D(pool_size=3x3, stride=2, padding=1)` for `kind` "Max".
    pub fn describe(&self, kind: &str) -> String {
        let k = self.kernel;
        format!(
            "{kind}Pool2D(pool_size={k}x{k}, stride={}, padding={}{})",
            self.stride,
            self.padding,
            if self.ceil_mode {
                ", ceil_mode=True"
            } else {
                ""
            }
        )
    }
}

/// How a network file writes a [`Window`].
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSettings {
    pub kernel: usize,
    pub stride: Option<usize>,
    #[serde(default)]
    pub padding: usize,
    #[serde(default)]
    pub ceil_mode: bool,
}

impl TryFrom<WindowSettings> for Window {
    type Error = String;
    fn try_from(w: WindowSettings) -> Result<Self, String> {
        if w.kernel == 0 || w.stride == Some(0) {
            return Err("kernel and stride must be at least 1".into());
        }
        Ok(Self {
            kernel: w.kernel,
            stride: w.stride.unwrap_or(w.kernel),
            padding: w.padding,
            ceil_mode: w.ceil_mode,
        })
    }
}
