//! Which layer a network file's `type = "..."` names: a table from type names to configs read
//! from the layer's settings. `Registry::builtin()` holds every built-in layer (one line each,
//! in `nn/mod.rs`); a program adds its own layers with [`Registry::add`] so that its network
//! files can use them.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::de::ValueDeserializer;

use super::any_layer::AnyConfig;
use super::layer::LayerConfig;
use super::sequential::SequentialSpec;

type ReadLeaf =
    dyn for<'de> Fn(ValueDeserializer<'de>) -> Result<AnyConfig, toml::de::Error> + Send + Sync;
type ReadBlock = dyn for<'de> Fn(ValueDeserializer<'de>, SequentialSpec) -> Result<AnyConfig, toml::de::Error>
    + Send
    + Sync;

enum Entry {
    /// A layer made from its settings alone.
    Leaf(Box<ReadLeaf>),
    /// A block made from its settings and its nested `layers`.
    Block(Box<ReadBlock>),
}

/// A block whose network-file entry holds nested `layers` (a `Sequential`, an auxiliary
/// classifier, a user's block around a `Sequential`).
pub trait BlockConfig: LayerConfig {
    /// The entry's other settings.
    type Settings: DeserializeOwned;
    /// The block from its settings and its nested layers.
    fn from_parts(settings: Self::Settings, layers: SequentialSpec) -> Result<Self, String>;
}

/// Layer types by the names network files use.
#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl Registry {
    /// No layer types at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Makes `type = "name"` mean a `C` read from the entry's settings (serde, with the
    /// entry's other keys as fields).
    pub fn add<C: LayerConfig + DeserializeOwned>(&mut self, name: &str) -> &mut Self {
        self.add_with(name, |settings: C| Ok(settings))
    }

    /// Makes `type = "name"` mean the config `make` returns from settings of type `S`.
    pub fn add_with<S, C, F>(&mut self, name: &str, make: F) -> &mut Self
    where
        S: DeserializeOwned,
        C: LayerConfig,
        F: Fn(S) -> Result<C, String> + Send + Sync + 'static,
    {
        let read = move |settings: ValueDeserializer<'_>| {
            let settings = S::deserialize(settings)?;
            make(settings)
                .map(AnyConfig::new)
                .map_err(serde::de::Error::custom)
        };
        self.entries
            .insert(name.to_string(), Entry::Leaf(Box::new(read)));
        self
    }

    /// Makes `type = "name"` mean a block `C` holding the entry's nested `layers`.
    pub fn add_block<C: BlockConfig>(&mut self, name: &str) -> &mut Self {
        let read = |settings: ValueDeserializer<'_>, layers: SequentialSpec| {
            let settings = C::Settings::deserialize(settings)?;
            C::from_parts(settings, layers)
                .map(AnyConfig::new)
                .map_err(serde::de::Error::custom)
        };
        self.entries
            .insert(name.to_string(), Entry::Block(Box::new(read)));
        self
    }

    /// Whether `name` is known.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Whether `name` is a block that holds nested `layers`.
    pub fn is_block(&self, name: &str) -> bool {
        matches!(self.entries.get(name), Some(Entry::Block(_)))
    }

    /// The known type names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// Reads the config of a `name` entry from its settings (and nested layers, for a block).
    /// `None` when `name` is unknown.
    pub fn read(
        &self,
        name: &str,
        settings: ValueDeserializer<'_>,
        layers: Option<SequentialSpec>,
    ) -> Option<Result<AnyConfig, toml::de::Error>> {
        Some(match (self.entries.get(name)?, layers) {
            (Entry::Leaf(read), None) => read(settings),
            (Entry::Block(read), layers) => read(settings, layers.unwrap_or_default()),
            (Entry::Leaf(_), Some(_)) => Err(serde::de::Error::custom(format!(
                "`{name}` holds no nested `layers`"
            ))),
        })
    }
}

/// A `Sequential` entry has no settings besides its `layers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

impl BlockConfig for SequentialSpec {
    type Settings = NoSettings;
    fn from_parts(_: NoSettings, layers: SequentialSpec) -> Result<Self, String> {
        Ok(layers)
    }
}
