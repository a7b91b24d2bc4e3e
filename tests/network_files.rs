//! Networks as files: the zoo is written in the format users write, and the format's features
//! (nesting, repeats, templates, sharing, sizes in classes) build what they say.

use burn::tensor::{Device, Tensor};
use inception::models::{ModelConfig, ModelKind};

fn names_and_shapes(config: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    config
        .build(&Device::flex())
        .unwrap_or_else(|e| panic!("{e}"))
        .named_params()
        .into_iter()
        .map(|p| (p.name, p.shape))
        .collect()
}

#[test]
fn every_zoo_file_read_as_a_users_file_builds_the_zoo_model() {
    for kind in ModelKind::ALL {
        let zoo = ModelConfig::new(kind);
        let text = kind.network_file();
        let user = ModelConfig::from_text(text, "copy.toml", "copy").unwrap();
        assert_eq!(user.name, kind.name());
        assert_eq!(user.input, zoo.input);
        assert_eq!(user.init, zoo.init);
        assert_eq!(user.recipe(), Some(kind.recipe()));
        assert_eq!(
            names_and_shapes(&user),
            names_and_shapes(&zoo),
            "{}",
            kind.name()
        );
    }
}

const FEATURES: &str = r#"
name = "features"
input = [3, 16, 16]
classes = 7
init = "xavier_uniform"

layers = [
  { name = "stem", use = "conv", channels = 8 },
  { name = "body", layers = [
    { use = "conv", repeat = 3 },
    { type = "max_pool", kernel = 2 },
  ] },
  { name = "wide", use = "conv", channels = 12, repeat = 2 },
  { type = "global_avg_pool" },
  { type = "flatten" },
  { name = "hidden", type = "dense", units = 12, activation = "relu" },
  { name = "again", share = "hidden" },
  { name = "fc", type = "dense", units = "classes" },
]

[define]
conv = { type = "conv", channels = 8, kernel = 3, padding = 1, activation = "relu" }
"#;

#[test]
fn nesting_repeats_templates_sharing_and_class_sizes() {
    let config = ModelConfig::from_text(FEATURES, "features.toml", "x").unwrap();
    assert_eq!((config.name.as_str(), config.num_classes), ("features", 7));
    let device = Device::flex();
    let model = config.build(&device).unwrap();
    let (logits, rows) = model.trace(Tensor::zeros([2, 3, 16, 16], &device), 1);
    assert_eq!(logits.dims(), [2, 7]);
    let rows: Vec<(String, Vec<usize>, usize)> = rows
        .into_iter()
        .map(|r| (r.path, r.shape[1..].to_vec(), r.params))
        .collect();
    let conv8 = 8 * 8 * 9 + 8;
    let expected: Vec<(&str, Vec<usize>, usize)> = vec![
        ("stem", vec![8, 16, 16], 3 * 8 * 9 + 8),
        ("body", vec![8, 8, 8], 3 * conv8),
        ("body.0", vec![8, 16, 16], conv8),
        ("body.1", vec![8, 16, 16], conv8),
        ("body.2", vec![8, 16, 16], conv8),
        ("body.3", vec![8, 8, 8], 0),
        ("wide_1", vec![12, 8, 8], 8 * 12 * 9 + 12),
        ("wide_2", vec![12, 8, 8], 12 * 12 * 9 + 12),
        ("4", vec![12, 1, 1], 0),
        ("5", vec![12], 0),
        ("hidden", vec![12], 12 * 12 + 12),
        ("again", vec![12], 0),
        ("fc", vec![7], 12 * 7 + 7),
    ];
    let expected: Vec<(String, Vec<usize>, usize)> = expected
        .into_iter()
        .map(|(n, s, p)| (n.to_string(), s, p))
        .collect();
    assert_eq!(rows, expected);
    // The shared layer counts once.
    let total: usize = rows
        .iter()
        .filter(|r| !r.0.contains('.'))
        .map(|r| r.2)
        .sum();
    assert_eq!(model.num_trainable(), total);
}

#[test]
fn a_replaced_template_changes_the_network() {
    // GoogLeNet-paper's pooling in ceil mode (article 004) through its `pool` template.
    let padding = ModelConfig::new(ModelKind::GooglenetPaper);
    let ceil = padding
        .clone()
        .with_pool_mode(inception::models::PoolMode::Ceil);
    assert_eq!(
        ceil.replace.get("pool").map(String::as_str),
        Some("{ type = \"max_pool\", kernel = 3, stride = 2, ceil_mode = true }")
    );
    let describe = |config: &ModelConfig| {
        let model = config.build(&Device::flex()).unwrap();
        let rows = model
            .trace(Tensor::zeros([1, 3, 224, 224], &Device::flex()), 0)
            .1;
        rows.into_iter()
            .find(|r| r.path == "maxpool1")
            .unwrap()
            .description
    };
    assert_eq!(
        describe(&padding),
        "MaxPool2D(pool_size=3x3, stride=2, padding=1)"
    );
    assert_eq!(
        describe(&ceil),
        "MaxPool2D(pool_size=3x3, stride=2, padding=0, ceil_mode=True)"
    );
    // A replacement that is not TOML, or of a template the file has not, is an error.
    let error = padding
        .clone()
        .with_template("pool", "{ type = ")
        .build(&Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the replacement of template `pool` is not TOML"),
        "{error}"
    );
    let error = padding
        .with_template("nothing", "{ type = \"relu\" }")
        .build(&Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("it has no template `nothing` to replace"),
        "{error}"
    );
}
