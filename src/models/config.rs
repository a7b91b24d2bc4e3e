//! [`ModelConfig`]: all that is needed to rebuild a network, stored in every checkpoint.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::labels::Labels;
use super::network_file::{Header, NetworkFile, NetworkFileError};
use super::normalize::Normalize;
use super::recipe::Recipe;
use super::zoo::ModelKind;
use crate::data::ResizeMode;
use crate::nn::{Init, Registry};

/// The largest image side accepted (larger ones would only exhaust memory).
pub const MAX_SIDE: usize = 1024;
/// The most input channels accepted.
pub const MAX_CHANNELS: usize = 64;
/// The most classes accepted (ImageNet-21k has about 21,000).
pub const MAX_CLASSES: usize = 100_000;
/// The largest network file read.
const MAX_FILE_LEN: u64 = 1 << 20;

/// Which network, for which input and classes: a network file's text (a zoo model's, or the
/// user's), or the name of a network written in Rust.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The network's name: the zoo's, the file's `name` (or its stem), or the Rust network's.
    pub name: String,
    /// The zoo model it is, if it is one.
    #[serde(default)]
    pub kind: Option<ModelKind>,
    /// The network file's text. `None` for a network written in Rust: only the program that
    /// defines it can rebuild it (and load its checkpoints into it).
    pub network: Option<String>,
    /// Where the text came from (a path, or `zoo:NAME`), for messages.
    pub origin: String,
    /// Input channels, height, width.
    pub input: [usize; 3],
    pub num_classes: usize,
    /// How weights are initialized.
    pub init: Init,
    /// `[define]` templates replaced, by name (TOML inline tables): how `--pool-mode ceil`
    /// changes GoogLeNet-paper's pooling.
    #[serde(default)]
    pub replace: BTreeMap<String, String>,
    /// What the classes are (Fashion-MNIST unless imported).
    #[serde(default)]
    pub labels: Labels,
    /// The classes' names where `labels` does not know them (an image folder's class folders),
    /// in label order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Per-channel normalization the model applies to its input (none: images in [0, 1]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
    /// How images that are not square were made square for it (and are, by `eval`, `predict`
    /// and `export`). Checkpoints written before this was recorded stretched them.
    #[serde(default = "stretched_before_recorded")]
    pub resize_mode: ResizeMode,
}

/// What checkpoints without `resize_mode` did.
fn stretched_before_recorded() -> ResizeMode {
    ResizeMode::Stretch
}

/// Why a network cannot be described or built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    File(#[from] NetworkFileError),
    #[error("cannot read the network file {path}: {error}")]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    /// `origin`: the network file, or `zoo:NAME`.
    #[error("{origin}: {reason}")]
    Invalid { origin: String, reason: String },
    #[error("the network `{name}` is written in Rust, not in a network file: build it in the program that defines it and load the checkpoint into it (`checkpoint::load_into`)")]
    InCode { name: String },
}

/// How GoogLeNet-paper's stride-2 max pools keep the border: padding 1 (articles 000, 001, 003)
/// or PyTorch's `ceil_mode=True` without padding (article 004, torchvision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PoolMode {
    #[default]
    Padding,
    Ceil,
}

impl PoolMode {
    pub const ALL: [PoolMode; 2] = [PoolMode::Padding, PoolMode::Ceil];

    pub fn name(self) -> &'static str {
        match self {
            PoolMode::Padding => "padding",
            PoolMode::Ceil => "ceil",
        }
    }
}

impl ModelConfig {
    /// The zoo model `kind` as its file describes it (the article's input, 10 classes).
    pub fn new(kind: ModelKind) -> Self {
        let mut config = Self::from_text(kind.network_file(), &kind.origin(), kind.name())
            .unwrap_or_else(|e| panic!("the zoo's {} file is valid: {e}", kind.name()));
        config.kind = Some(kind);
        config
    }

    /// A network file's text, from `origin` (for messages), named `default_name` unless the
    /// file says otherwise. Reads its header (name, input, classes, init); the layers are
    /// checked when the network is built.
    pub fn from_text(text: &str, origin: &str, default_name: &str) -> Result<Self, ModelError> {
        let file = Header::read(text, origin)?;
        let input = file.input.ok_or_else(|| NetworkFileError {
            origin: origin.to_string(),
            line: None,
            layer: None,
            message: "it gives no `input = [channels, height, width]`".into(),
        })?;
        let num_classes = file.classes.unwrap_or(10);
        Ok(Self {
            name: file.name.unwrap_or_else(|| default_name.to_string()),
            kind: None,
            network: Some(text.to_string()),
            origin: origin.to_string(),
            input,
            num_classes,
            init: file.init.unwrap_or(Init::XavierUniform),
            replace: BTreeMap::new(),
            labels: Labels::guess(num_classes),
            names: Vec::new(),
            normalize: None,
            resize_mode: ResizeMode::default(),
        })
    }

    /// The network file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let read_error = |error| ModelError::Read {
            path: path.to_path_buf(),
            error,
        };
        let len = std::fs::metadata(path).map_err(read_error)?.len();
        if len > MAX_FILE_LEN {
            return Err(read_error(std::io::Error::other(format!(
                "{len} bytes is more than a network file ({MAX_FILE_LEN} at most)"
            ))));
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        let stem = path
            .file_stem()
            .map_or_else(|| "network".into(), |s| s.to_string_lossy().into_owned());
        Self::from_text(&text, &path.display().to_string(), &stem)
    }

    /// A network written in Rust, named `name`, for `input` and `num_classes`: what its
    /// checkpoints record (they cannot rebuild it).
    pub fn rust_network(name: &str, input: [usize; 3], num_classes: usize) -> Self {
        Self {
            name: name.to_string(),
            kind: None,
            network: None,
            origin: format!("rust:{name}"),
            input,
            num_classes,
            init: Init::XavierUniform,
            replace: BTreeMap::new(),
            labels: Labels::guess(num_classes),
            names: Vec::new(),
            normalize: None,
            resize_mode: ResizeMode::default(),
        }
    }

    /// The network file's `[recipe]`, if it has one.
    pub fn recipe(&self) -> Option<Recipe> {
        let text = self.network.as_deref()?;
        Header::read(text, &self.origin).ok()?.recipe
    }

    /// The name of every class, in label order.
    pub fn class_names(&self) -> Vec<String> {
        (0..self.num_classes)
            .map(|c| match self.names.get(c) {
                Some(name) => name.clone(),
                None => self.labels.class_name(c),
            })
            .collect()
    }

    /// Normalizes the input per channel (`None`: not at all).
    pub fn with_normalize(mut self, normalize: Option<Normalize>) -> Self {
        self.normalize = normalize;
        self
    }

    /// What a program using the exported weights must know to feed the network as it was
    /// trained, as text (JSON values): `inception.input` ([channels, height, width]),
    /// `inception.resize_mode` (`crop` or `stretch`), `inception.normalize` (per-channel
    /// `mean` and `std` applied to pixels in [0, 1], or `null`: none), `inception.classes`
    /// (the class names in label order) and `inception.model`.
    pub fn export_metadata(&self) -> Vec<(String, String)> {
        let json = |value: serde_json::Value| value.to_string();
        let normalize = self.normalize.as_ref().map_or(
            serde_json::Value::Null,
            |n| serde_json::json!({"mean": n.mean, "std": n.std}),
        );
        [
            ("model", json(self.name.clone().into())),
            ("input", json(serde_json::json!(self.input))),
            ("resize_mode", json(serde_json::json!(self.resize_mode))),
            ("normalize", json(normalize)),
            ("classes", json(serde_json::json!(self.class_names()))),
        ]
        .into_iter()
        .map(|(key, value)| (format!("inception.{key}"), value))
        .collect()
    }

    /// Makes images that are not square square as `mode` says.
    pub fn with_resize_mode(mut self, mode: ResizeMode) -> Self {
        self.resize_mode = mode;
        self
    }

    /// Classes named by `names` (an image folder's): their number and names.
    pub fn with_names(mut self, names: Vec<String>) -> Self {
        self.num_classes = names.len();
        self.labels = Labels::Indices;
        self.names = names;
        self
    }

    /// Sets the input shape; torchvision's `transform_input` only applies to 3 channels and
    /// is replaced by an identity for others.
    pub fn with_input(mut self, input: [usize; 3]) -> Self {
        self.input = input;
        if input[0] != 3 {
            self = self.with_transform_input(false);
        }
        self
    }

    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    pub fn with_classes(mut self, num_classes: usize) -> Self {
        self.num_classes = num_classes;
        self
    }

    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Replaces the `[define]` template `name` by `table` (a TOML inline table).
    pub fn with_template(mut self, name: &str, table: &str) -> Self {
        self.replace.insert(name.to_string(), table.to_string());
        self
    }

    /// Whether the network file has a `[define]` template `name`.
    pub fn has_template(&self, name: &str) -> bool {
        let Some(text) = &self.network else {
            return false;
        };
        toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|t| t.get("define")?.as_table()?.get(name).cloned())
            .is_some()
    }

    /// How GoogLeNet-paper's max pools keep the border (its template `pool`).
    pub fn with_pool_mode(self, mode: PoolMode) -> Self {
        if !self.has_template("pool") || self.kind != Some(ModelKind::GooglenetPaper) {
            return self;
        }
        match mode {
            PoolMode::Padding => {
                let mut config = self;
                config.replace.remove("pool");
                config
            }
            PoolMode::Ceil => self.with_template(
                "pool",
                "{ type = \"max_pool\", kernel = 3, stride = 2, ceil_mode = true }",
            ),
        }
    }

    /// Turns torchvision's `transform_input` on or off (its template `transform_input`).
    pub fn with_transform_input(mut self, on: bool) -> Self {
        if !self.has_template("transform_input") {
            return self;
        }
        if on && self.input[0] == 3 {
            self.replace.remove("transform_input");
        } else {
            self.replace
                .insert("transform_input".into(), "{ type = \"identity\" }".into());
        }
        self
    }

    /// Whether torchvision's `transform_input` runs.
    pub fn transform_input(&self) -> bool {
        self.has_template("transform_input") && !self.replace.contains_key("transform_input")
    }

    /// Checks the sizes are possible before anything is built (a checkpoint's configuration
    /// comes from a file, and could say anything).
    pub fn validate(&self) -> Result<(), ModelError> {
        let invalid = |reason: String| ModelError::Invalid {
            origin: self.origin.clone(),
            reason,
        };
        let [channels, height, width] = self.input;
        if !(1..=MAX_CHANNELS).contains(&channels)
            || !(1..=MAX_SIDE).contains(&height)
            || !(1..=MAX_SIDE).contains(&width)
        {
            return Err(invalid(format!(
                "input {channels}x{height}x{width} is not possible: channels must be 1..={MAX_CHANNELS} and sides 1..={MAX_SIDE}"
            )));
        }
        if !(1..=MAX_CLASSES).contains(&self.num_classes) {
            return Err(invalid(format!(
                "{} classes is not possible: 1..={MAX_CLASSES}",
                self.num_classes
            )));
        }
        if let Some(normalize) = &self.normalize {
            if normalize.channels() != channels {
                return Err(invalid(format!(
                    "its input normalization is for {} channels and its input has {channels}",
                    normalize.channels()
                )));
            }
        }
        Ok(())
    }

    /// Reads the network file with the layer types of `registry`.
    pub fn network_file(&self, registry: &Registry) -> Result<NetworkFile, ModelError> {
        let text = self.network.as_deref().ok_or_else(|| ModelError::InCode {
            name: self.name.clone(),
        })?;
        Ok(NetworkFile::parse(
            text,
            &self.origin,
            registry,
            &self.replace,
        )?)
    }
}
