//! The model zoo: exact parameter counts and output shapes from `shared/reference/models.md`.

use burn::tensor::{Device, Tensor};
use inception::models::{ModelConfig, ModelKind, PoolMode};

/// Parameters and (name, shape without batch) of each top-level layer, dropout rows left out;
/// an auxiliary classifier is listed with the shape of its logits (its last layer's output).
fn describe(config: &ModelConfig) -> (usize, Vec<(String, Vec<usize>)>) {
    let device = Device::flex();
    let model = config.build(&device).unwrap();
    let [c, h, w] = config.input;
    let (logits, rows) = model.trace(Tensor::zeros([1, c, h, w], &device), 1);
    assert_eq!(logits.dims(), [1, config.num_classes]);
    let shapes = rows
        .iter()
        .filter(|r| r.depth == 0 && !r.description.starts_with("Dropout"))
        .map(|r| {
            let shape = if r.training_only {
                // The head's last row: its logits.
                let head = format!("{}.", r.path);
                let last = rows.iter().rfind(|c| c.path.starts_with(&head)).unwrap();
                last.shape[1..].to_vec()
            } else {
                r.shape[1..].to_vec()
            };
            (r.path.clone(), shape)
        })
        .collect();
    (model.num_trainable(), shapes)
}

/// Trainable parameters of the auxiliary classifiers (named `aux1.*`, `aux2.*`).
fn aux_params(model: &inception::models::Model) -> usize {
    model
        .named_params()
        .iter()
        .filter(|p| p.name.starts_with("aux"))
        .map(|p| p.count())
        .sum()
}

fn shapes_only(rows: &[(String, Vec<usize>)]) -> Vec<Vec<usize>> {
    rows.iter().map(|(_, s)| s.clone()).collect()
}

#[test]
fn lenet() {
    let (params, rows) = describe(&ModelConfig::new(ModelKind::Lenet));
    assert_eq!(params, 170_988);
    let expected: Vec<Vec<usize>> = vec![
        vec![20, 24, 24],
        vec![20, 12, 12],
        vec![50, 10, 10],
        vec![50, 5, 5],
        vec![1250],
        vec![128],
        vec![10],
    ];
    assert_eq!(shapes_only(&rows), expected);
}

#[test]
fn alexnet() {
    let (params, rows) = describe(&ModelConfig::new(ModelKind::Alexnet));
    assert_eq!(params, 46_764_746);
    let expected: Vec<Vec<usize>> = vec![
        vec![96, 54, 54],
        vec![96, 26, 26],
        vec![256, 26, 26],
        vec![256, 12, 12],
        vec![384, 12, 12],
        vec![384, 12, 12],
        vec![256, 12, 12],
        vec![256, 5, 5],
        vec![6400],
        vec![4096],
        vec![4096],
        vec![10],
    ];
    assert_eq!(shapes_only(&rows), expected);
}

#[test]
fn vgg11_and_its_small_version() {
    // The small one divides every width by 8 (the classifier's 4096 too).
    for (kind, ratio, parameters) in [
        (ModelKind::Vgg11, 1, 128_806_154),
        (ModelKind::Vgg11Small, 8, 2_018_346),
    ] {
        let (params, rows) = describe(&ModelConfig::new(kind));
        assert_eq!(params, parameters, "{kind:?}");
        let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "vgg_block_1",
                "vgg_block_2",
                "vgg_block_3",
                "vgg_block_4",
                "vgg_block_5",
                "fc"
            ]
        );
        let expected: Vec<Vec<usize>> = vec![
            vec![64 / ratio, 112, 112],
            vec![128 / ratio, 56, 56],
            vec![256 / ratio, 28, 28],
            vec![512 / ratio, 14, 14],
            vec![512 / ratio, 7, 7],
            vec![10],
        ];
        assert_eq!(shapes_only(&rows), expected, "{kind:?}");
    }
}

#[test]
fn nin() {
    let device = Device::flex();
    let config = ModelConfig::new(ModelKind::Nin);
    let model = config.build(&device).unwrap();
    assert_eq!(model.num_trainable(), 1_992_166);
    let (_, rows) = model.trace(Tensor::zeros([1, 1, 224, 224], &device), 0);
    let shapes: Vec<Vec<usize>> = rows.iter().map(|r| r.shape[1..].to_vec()).collect();
    let expected: Vec<Vec<usize>> = vec![
        vec![96, 54, 54],
        vec![96, 26, 26],
        vec![256, 26, 26],
        vec![256, 12, 12],
        vec![384, 12, 12],
        vec![384, 5, 5],
        vec![384, 5, 5], // dropout
        vec![10, 5, 5],
        vec![10, 1, 1],
        vec![10],
    ];
    assert_eq!(shapes, expected);
}

#[test]
fn googlenet_bn_adds_only_batch_norm_parameters() {
    let (params, rows) = describe(&ModelConfig::new(ModelKind::GooglenetBn));
    // d2l GoogLeNet (5,977,530) + gamma and beta for every convolution's channels:
    // b1 64, b2 64 + 192, and 6,960 channels over the nine Inception blocks.
    assert_eq!(params, 5_977_530 + 2 * (64 + 64 + 192 + 6_960));
    let expected: Vec<Vec<usize>> = vec![
        vec![64, 24, 24],
        vec![192, 12, 12],
        vec![480, 6, 6],
        vec![832, 3, 3],
        vec![1024, 1, 1],
        vec![10],
    ];
    assert_eq!(shapes_only(&rows), expected);
}

#[test]
fn googlenet_paper_with_auxiliary_classifiers() {
    for pool_mode in [PoolMode::Padding, PoolMode::Ceil] {
        let config = ModelConfig::new(ModelKind::GooglenetPaper)
            .with_classes(1000)
            .with_pool_mode(pool_mode);
        assert_eq!(config.input, [3, 224, 224]);
        let (params, rows) = describe(&config);
        assert_eq!(params, 13_389_064);
        let find = |name: &str| {
            rows.iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("no {name}"))
                .1
                .clone()
        };
        assert_eq!(find("maxpool2"), vec![192, 28, 28]);
        assert_eq!(find("maxpool3"), vec![480, 14, 14]);
        assert_eq!(find("inception4e"), vec![832, 14, 14]);
        assert_eq!(find("maxpool4"), vec![832, 7, 7]);
        assert_eq!(find("inception5b"), vec![1024, 7, 7]);
        assert_eq!(find("fc"), vec![1000]);
        assert_eq!(find("aux1"), vec![1000]);
        assert_eq!(find("aux2"), vec![1000]);
    }
    // Without the auxiliary heads: 7,008,824.
    let device = Device::flex();
    let model = ModelConfig::new(ModelKind::GooglenetPaper)
        .with_classes(1000)
        .build(&device)
        .unwrap();
    assert_eq!(model.num_trainable() - aux_params(&model), 7_008_824);
}

#[test]
fn googlenet_torchvision_is_torchvisions_layout() {
    let config = ModelConfig::new(ModelKind::GooglenetTorchvision).with_classes(1000);
    assert_eq!(config.input, [3, 224, 224]);
    assert!(config.transform_input());
    // torchvision: sum(p.numel() for p in googlenet(aux_logits=True).parameters()).
    let (params, rows) = describe(&config);
    assert_eq!(params, 13_004_888);
    let find = |name: &str| rows.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(find("transform_input"), vec![3, 224, 224]);
    assert_eq!(find("maxpool1"), vec![64, 56, 56]);
    assert_eq!(find("conv3"), vec![192, 56, 56]);
    assert_eq!(find("maxpool2"), vec![192, 28, 28]);
    assert_eq!(find("maxpool3"), vec![480, 14, 14]);
    assert_eq!(find("maxpool4"), vec![832, 7, 7]);
    assert_eq!(find("inception5b"), vec![1024, 7, 7]);
    assert_eq!(find("aux1"), vec![1000]);
    let model = config.build(&Device::flex()).unwrap();
    assert_eq!(model.num_trainable() - aux_params(&model), 6_624_904);
    // transform_input is for RGB only: a gray model replaces it with an identity.
    let gray = ModelConfig::new(ModelKind::GooglenetTorchvision).with_input([1, 64, 64]);
    assert!(!gray.transform_input());
    assert_eq!(
        gray.build(&Device::flex())
            .unwrap()
            .forward(Tensor::zeros([1, 1, 64, 64], &Device::flex()))
            .dims(),
        [1, 10]
    );
}

#[test]
fn auxiliary_logits_only_in_training() {
    let device = Device::flex();
    let model = ModelConfig::new(ModelKind::GooglenetPaper)
        .with_input([3, 96, 96])
        .build(&device)
        .unwrap();
    let x = Tensor::<4>::zeros([2, 3, 96, 96], &device);
    let out = model.forward_train(x.clone());
    assert_eq!(out.logits.dims(), [2, 10]);
    let weights: Vec<f64> = out.aux.iter().map(|(w, _)| *w).collect();
    assert_eq!(weights, [0.3, 0.3]);
    assert!(out.aux.iter().all(|(_, t)| t.dims() == [2, 10]));
    assert_eq!(model.forward(x).dims(), [2, 10]);
    // The plain models have none.
    let plain = ModelConfig::new(ModelKind::Lenet).build(&device).unwrap();
    assert!(plain
        .forward_train(Tensor::zeros([1, 1, 28, 28], &device))
        .aux
        .is_empty());
}

#[test]
fn every_model_has_a_recipe_and_a_name_clap_accepts() {
    use clap::ValueEnum;
    for kind in ModelKind::ALL {
        let recipe = kind.recipe();
        assert!(recipe.lr > 0.0 && recipe.batch_size > 0 && recipe.epochs > 0);
        assert_eq!(ModelKind::from_str(kind.name(), false), Ok(kind));
    }
    assert_eq!(ModelKind::Nin.recipe().lr, 0.002);
    assert_eq!(ModelKind::Vgg11Small.recipe().batch_size, 64);
}
