//! The loader on the real Fashion-MNIST files.

mod common;

use burn::data::dataset::Dataset;
use burn::tensor::Device;
use inception::data::{data_loader, FashionMnist, LoaderOptions, ResizeMode, Split, CLASS_NAMES};

#[test]
fn real_splits_have_official_sizes_and_first_labels() {
    let dir = common::fashion_mnist_dir();
    let train = FashionMnist::load(&dir, Split::Train).unwrap();
    let test = FashionMnist::load(&dir, Split::Test).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(test.len(), 10_000);
    assert_eq!(train.label(0), 9);
    assert_eq!(test.label(0), 9);
    assert_eq!(CLASS_NAMES[train.label(0) as usize], "Ankle boot");
    // Balanced classes: 6,000 and 1,000 of each.
    for class in 0..10u8 {
        assert_eq!(
            train.labels().iter().filter(|&&l| l == class).count(),
            6_000
        );
        assert_eq!(test.labels().iter().filter(|&&l| l == class).count(), 1_000);
    }
    let first = train.get(0).unwrap();
    assert_eq!((first.rows, first.cols), (28, 28));
}

#[test]
fn loader_resizes_scales_batches_and_shuffles_reproducibly() {
    let dir = common::fashion_mnist_dir();
    let test = FashionMnist::load(&dir, Split::Test).unwrap();
    let device = Device::flex();
    let options = LoaderOptions {
        resize: 96,
        resize_mode: ResizeMode::Crop,
        channels: 1,
        batch_size: 32,
        shuffle: None,
        skip: 0,
        limit: Some(100),
        workers: 1,
        augmentation: Default::default(),
        shard: Default::default(),
    };
    let loader = data_loader(&test, &options, &device);
    let batches: Vec<_> = loader.iter().map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 4); // 32 + 32 + 32 + 4
    assert_eq!(batches[0].images.dims(), [32, 1, 96, 96]);
    assert_eq!(batches[3].images.dims(), [4, 1, 96, 96]);
    let first_labels = batches[0]
        .targets
        .clone()
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    assert_eq!(first_labels[0], 9);
    let pixels = batches[0]
        .images
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let (min, max) = pixels
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &p| (a.min(p), b.max(p)));
    assert!(
        min >= 0.0 && max <= 1.0 && max > 0.5,
        "pixels in [0, 1]: {min}..{max}"
    );

    // The same seed gives the same order; a different seed another.
    let order_from = |seed, skip| {
        let loader = data_loader(
            &test,
            &LoaderOptions {
                shuffle: Some(seed),
                skip,
                ..options.clone()
            },
            &device,
        );
        loader
            .iter()
            .flat_map(|b| {
                b.unwrap()
                    .targets
                    .into_data()
                    .convert::<i64>()
                    .try_to_vec::<i64>()
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    let order = |seed| order_from(seed, 0);
    assert_eq!(order(7), order(7));
    // A resumed epoch skips what was done and sees the rest in the same order.
    assert_eq!(order_from(7, 40), order(7)[40..]);
    assert_ne!(order(7), order(8));
    // A shuffle is a permutation of the same 100 examples.
    let file_order: Vec<i64> = test.labels()[..100].iter().map(|&l| i64::from(l)).collect();
    let (mut shuffled, mut sorted) = (order(7), file_order.clone());
    assert_ne!(shuffled, file_order);
    shuffled.sort();
    sorted.sort();
    assert_eq!(shuffled, sorted);
}
