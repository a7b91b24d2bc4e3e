//! The checkpoint loader on arbitrary bytes. Random bytes rarely get past the signature and
//! the checksum, so half of the inputs are first made into a well-formed container (signature,
//! version, three sections, correct SHA-256) around fuzzed configuration JSON, weights
//! (burnpack) and optimizer bytes: that reaches the JSON, burnpack and model-building code.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn reseal(data: &[u8]) -> Vec<u8> {
    // data = version byte | meta length (2 bytes) | weights length (3 bytes) | rest
    if data.len() < 6 {
        return data.to_vec();
    }
    // Mostly the current version (3); any other value tests the version check.
    let version = if data[0] % 2 == 0 { 3 } else { u32::from(data[0]) };
    let rest = &data[6..];
    let meta_len = (usize::from(data[1]) << 8 | usize::from(data[2])).min(rest.len());
    let (meta, rest) = rest.split_at(meta_len);
    let weights_len =
        (usize::from(data[3]) << 16 | usize::from(data[4]) << 8 | usize::from(data[5])).min(rest.len());
    let (weights, optimizer) = rest.split_at(weights_len);
    let mut out = b"INCEPTCK".to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    for section in [meta, weights, optimizer] {
        out.extend_from_slice(&(section.len() as u64).to_le_bytes());
        out.extend_from_slice(section);
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.ckpt");
    let device = burn::tensor::Device::flex();
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 0 { data.to_vec() } else { reseal(data) };
    let registry = inception::nn::Registry::builtin();
    let _ = inception::train::checkpoint::from_bytes(path, &bytes, &device, &registry);
});
