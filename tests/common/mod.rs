//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Mutex, MutexGuard};

/// The fast-path switch (`inception::flex::set_fast_path`) is process-wide and a file's tests
/// run in parallel: a test that flips it, or compares the two paths, holds this lock while it
/// does, so that no other test of its binary flips it part-way through (that once made one of
/// two runs meant to be identical take the other path half-way: a LeNet gradient error of
/// 3e-3 instead of 7e-7, in about one run of six).
pub fn fast_path_switch() -> MutexGuard<'static, ()> {
    static SWITCH: Mutex<()> = Mutex::new(());
    SWITCH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The directory of the real Fashion-MNIST files (installed by `.ci/run` from Debian's
/// `dataset-fashion-mnist`). Tests that need it fail loudly rather than skip.
pub fn fashion_mnist_dir() -> PathBuf {
    inception::data::locate(None, true)
        .unwrap_or_else(|e| panic!("these tests need the real Fashion-MNIST files: {e}"))
}

/// Serves `files` (URL path -> body) for at most `connections` connections, then stops.
pub fn serve(files: Vec<(String, Vec<u8>)>, connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/data", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let response = match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    url
}

/// The largest difference between `other` and `reference`, relative to the largest value of
/// `reference` (logits compared across backends and runtimes).
pub fn relative_error(reference: &[f32], other: &[f32]) -> f32 {
    assert_eq!(reference.len(), other.len());
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = reference
        .iter()
        .zip(other)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

/// The standard output of a command that must have succeeded (else its output and error).
pub fn succeeded(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The running losses of a run directory's steps.csv, in step order.
pub fn step_losses(out: &Path) -> Vec<f64> {
    let mut reader = csv::Reader::from_path(out.join("steps.csv")).unwrap();
    reader
        .records()
        .map(|r| r.unwrap()[2].parse::<f64>().unwrap())
        .collect()
}

/// The per-step losses behind running means `running` (step k's mean over the epoch so far).
pub fn per_step(running: &[f64]) -> Vec<f64> {
    running
        .iter()
        .enumerate()
        .map(|(k, mean)| {
            let before = if k == 0 {
                0.0
            } else {
                running[k - 1] * k as f64
            };
            mean * (k + 1) as f64 - before
        })
        .collect()
}
