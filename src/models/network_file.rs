//! Network files: a network described in TOML, read into a [`SequentialSpec`] with the line of
//! every layer, so that every error names the file, the line and the layer.
//!
//! ```toml
//! name = "tiny"              # optional: the network's name (default: the file's stem)
//! input = [1, 28, 28]        # channels, height, width of one example
//! classes = 10               # what `"classes"` stands for in sizes
//! init = "xavier_uniform"    # or "xavier_normal", "torch_default", { normal = { sigma = 0.01 } }, ...
//!
//! layers = [
//!   { type = "conv", channels = 8, kernel = 3, activation = "relu" },
//!   { type = "max_pool", kernel = 2 },
//!   { name = "hidden", type = "dense", units = 64, activation = "relu" },
//!   { share = "hidden" },                     # the same layer again: shared parameters
//!   { name = "block", layers = [              # a nested Sequential
//!     { use = "wide", repeat = 2 },           # a [define] template, twice (fresh parameters)
//!   ] },
//!   { type = "dense", units = "classes" },
//! ]
//!
//! [define]                   # named templates; an entry's own settings override theirs
//! wide = { type = "dense", units = 64, activation = "relu" }
//!
//! [recipe]                   # optional defaults of `inception train`
//! optimizer = "sgd"
//! lr = 0.1
//! batch_size = 128
//! epochs = 5
//! resize = 28
//! ```
//!
//! An entry is a table with `type` (a registered layer: `inception net layers` lists them) and
//! that layer's settings, or `layers = [...]` (a `Sequential`), or `use = "template"`, or
//! `share = "earlier"`; optionally `name` (children are named by position otherwise) and
//! `repeat = N` (N copies in a row). Blocks with nested layers (`sequential`,
//! `aux_classifier`) take `layers` too. TOML 1.1: inline tables may span lines.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::recipe::Recipe;
use crate::nn::{join, Init, Registry, SequentialSpec, ShapeError};

/// A network file read into a description.
#[derive(Debug, Clone)]
pub struct NetworkFile {
    pub name: Option<String>,
    pub input: Option<[usize; 3]>,
    pub classes: Option<usize>,
    pub init: Option<Init>,
    pub recipe: Option<Recipe>,
    /// The layers, as a `Sequential` description.
    pub layers: SequentialSpec,
    /// The line of every layer by its path (`b3.0`), for errors found when it is built.
    lines: HashMap<String, usize>,
    /// Where the text came from, for messages.
    origin: String,
}

/// A network file that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{}: {}{message}", line.map(|l| format!(":{l}")).unwrap_or_default(), layer.as_ref().map(|l| format!("layer `{l}`: ")).unwrap_or_default())]
pub struct NetworkFileError {
    /// The file (or `zoo:NAME` for a built-in network).
    pub origin: String,
    pub line: Option<usize>,
    /// The layer's path, when one is at fault.
    pub layer: Option<String>,
    pub message: String,
}

/// The top of a network file: what is known of a network before its layers are read.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct Header {
    pub name: Option<String>,
    pub input: Option<[usize; 3]>,
    pub classes: Option<usize>,
    pub init: Option<Init>,
    pub recipe: Option<Recipe>,
}

impl Header {
    /// Reads the header of the network file `text` (from `origin`); a file that is not TOML
    /// is an error at its line.
    pub fn read(text: &str, origin: &str) -> Result<Self, NetworkFileError> {
        toml::from_str(text).map_err(|e| {
            let reader = Reader {
                text,
                origin,
                registry: &Registry::empty(),
            };
            reader.toml_error(&e, 0..0, None)
        })
    }
}

/// The keys of an entry that are not the layer's own settings.
const ENTRY_KEYS: [&str; 6] = ["type", "name", "repeat", "share", "use", "layers"];
/// The keys a network file may have at the top.
const TOP_KEYS: [&str; 8] = [
    "name",
    "description",
    "input",
    "classes",
    "init",
    "layers",
    "define",
    "recipe",
];
/// More copies than this in one `repeat` is surely a mistake.
const MAX_REPEAT: usize = 1000;

impl NetworkFile {
    /// Reads `text` (from `origin`, a path or `zoo:NAME`) with the layer types of `registry`.
    /// `overrides` replaces `[define]` templates by name (TOML inline tables, e.g. a pooling
    /// with `ceil_mode = true`).
    pub fn parse(
        text: &str,
        origin: &str,
        registry: &Registry,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, NetworkFileError> {
        let reader = Reader {
            text,
            origin,
            registry,
        };
        let root = DeTable::parse(text).map_err(|e| reader.toml_error(&e, 0..0, None))?;
        let root_span = root.span();
        let root = root.into_inner();
        for (key, value) in &root {
            if !TOP_KEYS.contains(&key.get_ref().as_ref()) {
                return Err(reader.error(
                    key.span(),
                    None,
                    format!(
                        "unknown key `{}` (a network file has {})",
                        key.get_ref(),
                        TOP_KEYS.join(", ")
                    ),
                ));
            }
            let _ = value;
        }
        let get = |key: &str| lookup(&root, key);
        let name: Option<String> = reader.optional(&root, "name")?;
        let input: Option<[usize; 3]> = reader.optional(&root, "input")?;
        let classes: Option<usize> = reader.optional(&root, "classes")?;
        let init: Option<Init> = reader.optional(&root, "init")?;
        let recipe: Option<Recipe> = reader.optional(&root, "recipe")?;
        let _description: Option<String> = reader.optional(&root, "description")?;

        let mut defines: HashMap<String, Spanned<DeValue<'_>>> = HashMap::new();
        if let Some(value) = get("define") {
            let DeValue::Table(table) = value.get_ref() else {
                return Err(reader.error(
                    value.span(),
                    None,
                    "`define` must be a table of templates".into(),
                ));
            };
            for (key, template) in table {
                defines.insert(key.get_ref().to_string(), template.clone());
            }
        }
        let parsed_overrides = overrides
            .iter()
            .map(|(name, text)| {
                DeValue::parse(text)
                    .map(|value| (name.clone(), value))
                    .map_err(|e| NetworkFileError {
                        origin: origin.to_string(),
                        line: None,
                        layer: None,
                        message: format!(
                            "the replacement of template `{name}` is not TOML: {}",
                            e.message()
                        ),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (name, value) in parsed_overrides {
            if !defines.contains_key(&name) {
                return Err(reader.error(
                    0..0,
                    None,
                    format!(
                        "it has no template `{name}` to replace ([define] has {})",
                        sorted_keys(&defines)
                    ),
                ));
            }
            // An override's spans are in its own text: report its errors at the template.
            let span = defines[&name].span();
            defines.insert(name, Spanned::new(span, value.into_inner()));
        }

        let Some(layers) = get("layers") else {
            return Err(reader.error(
                root_span,
                None,
                "it has no `layers` (the network's layers, in order)".into(),
            ));
        };
        let mut lines = HashMap::new();
        let layers = reader.sequence(layers, "", &defines, &mut lines)?;
        if layers.is_empty() {
            return Err(reader.error(layers_span(get("layers")), None, "`layers` is empty".into()));
        }
        Ok(Self {
            name,
            input,
            classes,
            init,
            recipe,
            layers,
            lines,
            origin: origin.to_string(),
        })
    }

    /// The error of building this network, at the line of the layer at fault.
    pub fn shape_error(&self, error: ShapeError) -> NetworkFileError {
        // The deepest layer with a known line on the error's path.
        let mut path = error.layer.as_str();
        let line = loop {
            if let Some(line) = self.lines.get(path) {
                break Some(*line);
            }
            match path.rsplit_once('.') {
                Some((parent, _)) => path = parent,
                None => break None,
            }
        };
        let input = crate::nn::format_shape(1, &error.input);
        NetworkFileError {
            origin: self.origin.clone(),
            line,
            layer: Some(error.layer),
            message: if error.input.is_empty() {
                error.reason
            } else {
                format!(
                    "{} cannot take an input of shape {input}: {}",
                    error.description, error.reason
                )
            },
        }
    }
}

fn layers_span(value: Option<&Spanned<DeValue<'_>>>) -> Range<usize> {
    value.map_or(0..0, Spanned::span)
}

fn sorted_keys<V>(map: &HashMap<String, V>) -> String {
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys.is_empty() {
        "none".into()
    } else {
        keys.join(", ")
    }
}

struct Reader<'a> {
    text: &'a str,
    origin: &'a str,
    registry: &'a Registry,
}

impl Reader<'_> {
    fn line(&self, span: &Range<usize>) -> Option<usize> {
        if span.start == 0 && span.end == 0 {
            return None;
        }
        let start = span.start.min(self.text.len());
        Some(self.text[..start].matches('\n').count() + 1)
    }

    fn error(&self, span: Range<usize>, layer: Option<&str>, message: String) -> NetworkFileError {
        NetworkFileError {
            origin: self.origin.to_string(),
            line: self.line(&span),
            layer: layer.map(str::to_string),
            message,
        }
    }

    /// A TOML or settings error: at its own span where it has one, else at `fallback`.
    fn toml_error(
        &self,
        error: &toml::de::Error,
        fallback: Range<usize>,
        layer: Option<&str>,
    ) -> NetworkFileError {
        let span = error.span().filter(|s| s.end > 0).unwrap_or(fallback);
        self.error(span, layer, error.message().trim().to_string())
    }

    /// A top-level setting read with serde.
    fn setting<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        value: &Spanned<DeValue<'_>>,
    ) -> Result<T, NetworkFileError> {
        T::deserialize(ValueDeserializer::from(value.clone())).map_err(|e| {
            let mut error = self.toml_error(&e, value.span(), None);
            error.message = format!("`{key}`: {}", error.message);
            error
        })
    }

    /// The setting `key` of `table`, if there.
    fn optional<T: serde::de::DeserializeOwned>(
        &self,
        table: &DeTable<'_>,
        key: &str,
    ) -> Result<Option<T>, NetworkFileError> {
        lookup(table, key)
            .map(|value| self.setting(key, value))
            .transpose()
    }

    /// A `layers` array into a `Sequential` description; `prefix` is the block's path.
    fn sequence(
        &self,
        value: &Spanned<DeValue<'_>>,
        prefix: &str,
        defines: &HashMap<String, Spanned<DeValue<'_>>>,
        lines: &mut HashMap<String, usize>,
    ) -> Result<SequentialSpec, NetworkFileError> {
        let block = if prefix.is_empty() {
            None
        } else {
            Some(prefix)
        };
        let DeValue::Array(entries) = value.get_ref() else {
            return Err(self.error(
                value.span(),
                block,
                "`layers` must be an array of layers: layers = [{ type = \"...\", ... }, ...]"
                    .into(),
            ));
        };
        let mut spec = SequentialSpec::new();
        for entry in entries {
            spec = self.entry(spec, entry, prefix, defines, lines)?;
        }
        Ok(spec)
    }

    /// Adds one entry (and its repeats) to `spec`.
    fn entry(
        &self,
        mut spec: SequentialSpec,
        entry: &Spanned<DeValue<'_>>,
        prefix: &str,
        defines: &HashMap<String, Spanned<DeValue<'_>>>,
        lines: &mut HashMap<String, usize>,
    ) -> Result<SequentialSpec, NetworkFileError> {
        let span = entry.span();
        let DeValue::Table(own) = entry.get_ref() else {
            let at = join(prefix, &spec.len().to_string());
            return Err(self.error(
                span,
                Some(&at),
                "a layer must be a table such as { type = \"relu\" }".into(),
            ));
        };
        let string = |table: &DeTable<'_>,
                      key: &str,
                      at: &str|
         -> Result<Option<String>, NetworkFileError> {
            match lookup(table, key) {
                None => Ok(None),
                Some(v) => match v.get_ref() {
                    DeValue::String(s) => Ok(Some(s.to_string())),
                    _ => Err(self.error(v.span(), Some(at), format!("`{key}` must be a string"))),
                },
            }
        };
        let position = spec.len().to_string();
        let name = string(own, "name", &join(prefix, &position))?;
        let base_name = name.clone().unwrap_or(position);
        let path = join(prefix, &base_name);
        if base_name.is_empty() || base_name.contains('.') {
            return Err(self.error(
                span,
                Some(&path),
                format!("`{base_name}` is not a name: use letters, digits and `_`"),
            ));
        }
        if spec.names().any(|n| n == base_name) {
            return Err(self.error(
                span,
                Some(&path),
                format!("two layers of this block are named `{base_name}`"),
            ));
        }
        let repeat = match lookup(own, "repeat") {
            None => 1,
            Some(v) => match self.setting::<usize>("repeat", v) {
                Ok(n) if (1..=MAX_REPEAT).contains(&n) => n,
                _ => {
                    return Err(self.error(
                        v.span(),
                        Some(&path),
                        format!("`repeat` must be a number from 1 to {MAX_REPEAT}"),
                    ))
                }
            },
        };
        let line = self.line(&span).unwrap_or(0);

        // `share`: the same layer as an earlier one of this block.
        if let Some(earlier) = string(own, "share", &path)? {
            if let Some((key, _)) = own
                .iter()
                .find(|(k, _)| !matches!(k.get_ref().as_ref(), "share" | "name"))
            {
                return Err(self.error(key.span(), Some(&path), format!("a `share` entry takes only `name`, not `{}`: the shared layer keeps its own settings", key.get_ref())));
            }
            lines.insert(path.clone(), line);
            return spec.add_again(&base_name, &earlier).map_err(|message| {
                self.error(
                    span,
                    Some(&path),
                    format!("`share = \"{earlier}\"`: {message}"),
                )
            });
        }

        // `use`: a template, with this entry's settings over it.
        let mut table = own.clone();
        if let Some(template) = string(own, "use", &path)? {
            let Some(found) = defines.get(&template) else {
                return Err(self.error(
                    span,
                    Some(&path),
                    format!(
                        "there is no template `{template}` (the file's [define] has {})",
                        sorted_keys(defines)
                    ),
                ));
            };
            let DeValue::Table(base) = found.get_ref() else {
                return Err(self.error(
                    found.span(),
                    Some(&path),
                    format!("the template `{template}` must be a table"),
                ));
            };
            if lookup(base, "use").is_some() {
                return Err(self.error(
                    found.span(),
                    Some(&path),
                    format!("the template `{template}` uses another template; write it out"),
                ));
            }
            let mut merged = base.clone();
            for (key, value) in own {
                if key.get_ref() != "use" {
                    merged.insert(key.clone(), value.clone());
                }
            }
            table = merged;
        }

        let nested = lookup(&table, "layers");
        let kind = match (string(&table, "type", &path)?, nested) {
            (Some(kind), _) => kind,
            (None, Some(_)) => "sequential".to_string(),
            (None, None) => {
                return Err(self.error(
                    span,
                    Some(&path),
                    format!(
                        "it says no `type` (one of: {})",
                        self.registry.names().join(", ")
                    ),
                ))
            }
        };
        if !self.registry.contains(&kind) {
            return Err(self.error(
                lookup(&table, "type").map_or(span.clone(), Spanned::span),
                Some(&path),
                format!(
                    "unknown layer type `{kind}` (known: {})",
                    self.registry.names().join(", ")
                ),
            ));
        }
        let mut settings = DeTable::new();
        for (key, value) in &table {
            if !ENTRY_KEYS.contains(&key.get_ref().as_ref()) {
                settings.insert(key.clone(), value.clone());
            }
        }
        for copy in 1..=repeat {
            let step_name = match (&name, repeat) {
                (Some(name), 1) => name.clone(),
                (Some(name), _) => format!("{name}_{copy}"),
                (None, _) => spec.len().to_string(),
            };
            let step_path = join(prefix, &step_name);
            lines.insert(step_path.clone(), line);
            let layers = match (nested, self.registry.is_block(&kind)) {
                (Some(value), true) => Some(self.sequence(value, &step_path, defines, lines)?),
                (None, true) => {
                    return Err(self.error(
                        span,
                        Some(&step_path),
                        format!("`{kind}` needs its `layers = [...]`"),
                    ))
                }
                (Some(value), false) => {
                    return Err(self.error(
                        value.span(),
                        Some(&step_path),
                        format!("`{kind}` holds no nested `layers`"),
                    ))
                }
                (None, false) => None,
            };
            let value = Spanned::new(span.clone(), DeValue::Table(settings.clone()));
            let config = self
                .registry
                .read(&kind, ValueDeserializer::from(value), layers)
                .expect("the type is registered")
                .map_err(|e| {
                    let mut error = self.toml_error(&e, span.clone(), Some(&step_path));
                    // serde's words for the layer's own: its settings.
                    let message = error
                        .message
                        .replace("missing field", "missing setting")
                        .replace("unknown field", "unknown setting");
                    error.message = format!("{kind}: {message}");
                    error
                })?;
            spec = spec.add_named(&step_name, config);
        }
        Ok(spec)
    }
}

/// The value of `key` in `table`.
fn lookup<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref() == key)
        .map(|(_, v)| v)
}
