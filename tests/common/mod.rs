//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The directory of the real Fashion-MNIST files (installed by `.ci/run` from Debian's
/// `dataset-fashion-mnist`). Tests that need it fail loudly rather than skip.
pub fn fashion_mnist_dir() -> PathBuf {
    inception::data::locate(None, true)
        .unwrap_or_else(|e| panic!("these tests need the real Fashion-MNIST files: {e}"))
}
