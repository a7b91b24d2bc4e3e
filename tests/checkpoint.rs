//! Checkpoints: bit-identical round trips and clear errors for damaged or foreign files.

use burn::tensor::{Device, Distribution, Tensor};
use inception::models::{ModelConfig, ModelKind};
use inception::nn::Init;
use inception::train::checkpoint::{self, CheckpointError};

fn logits_bits(model: &inception::models::Model, x: Tensor<4>) -> Vec<u32> {
    model
        .forward(x)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

#[test]
fn reloaded_model_gives_bit_identical_logits() {
    let device = Device::flex();
    device.seed(11);
    let config = ModelConfig::new(ModelKind::Googlenet).with_input([1, 32, 32]);
    let model = config.build(&device).unwrap();
    let x = Tensor::<4>::random([4, 1, 32, 32], Distribution::Default, &device);
    let before = logits_bits(&model, x.clone());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.ckpt");
    checkpoint::save(&model, &path).unwrap();
    let (loaded, meta) = checkpoint::load(&path, &device).unwrap();
    assert_eq!(meta.model, config);
    assert_eq!(loaded.config, config);
    assert_eq!(logits_bits(&loaded, x), before);
    // Nothing but the checkpoint is left in the directory (no temporary files).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("model.ckpt")]);
}

#[test]
fn damaged_and_foreign_checkpoints_give_clear_errors() {
    let device = Device::flex();
    let config = ModelConfig::new(ModelKind::Googlenet).with_input([1, 32, 32]);
    let model = config.build(&device).unwrap();
    let bytes = checkpoint::to_bytes(&model, &model.config, None, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.ckpt");
    let load = |data: &[u8]| {
        std::fs::write(&path, data).unwrap();
        checkpoint::load(&path, &device).map(|_| ()).unwrap_err()
    };

    let err = load(b"PK\x03\x04 not a checkpoint");
    assert!(
        matches!(err, CheckpointError::NotACheckpoint { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("is not an inception checkpoint"));

    let err = load(&bytes[..bytes.len() / 2]);
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("corrupt or truncated"), "{err}");

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let err = load(&flipped);
    assert!(err.to_string().contains("checksum mismatch"), "{err}");

    let mut future = bytes.clone();
    future[8..12].copy_from_slice(&99u32.to_le_bytes());
    let err = load(&future);
    assert!(
        matches!(err, CheckpointError::UnsupportedVersion { found: 99, .. }),
        "{err}"
    );

    // Weights of one model under the configuration of another (here: a different class count).
    let other = ModelConfig {
        num_classes: 7,
        init: Init::XavierUniform,
        ..config.clone()
    }
    .build(&device)
    .unwrap();
    let other_bytes = checkpoint::to_bytes(&other, &other.config, None, &[]).unwrap();
    let forged = splice_meta(&other_bytes, &bytes);
    let err = load(&forged);
    assert!(matches!(err, CheckpointError::Mismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("do not fit the googlenet model"),
        "{err}"
    );
}

/// A checkpoint with `meta_from`'s configuration and `weights_from`'s weights, checksum fixed up.
fn splice_meta(weights_from: &[u8], meta_from: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let meta_len = |b: &[u8]| u64::from_le_bytes(b[12..20].try_into().unwrap()) as usize;
    let (wm, mm) = (meta_len(weights_from), meta_len(meta_from));
    let mut out = meta_from[..20 + mm].to_vec();
    out.extend_from_slice(&weights_from[20 + wm..weights_from.len() - 32]);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}
