//! Progress bars (indicatif). They draw only on a terminal, so logs and tests stay clean.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over the images of one epoch, with images/s, ETA and the running loss.
pub fn epoch_bar(epoch: usize, epochs: usize, images: u64) -> ProgressBar {
    let bar = ProgressBar::new(images);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30.cyan/blue}] {pos}/{len} img  {per_sec}  ETA {eta}  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("epoch {epoch}/{epochs}"));
    bar
}

/// A bar for evaluating `images` test images.
pub fn eval_bar(images: u64) -> ProgressBar {
    let bar = ProgressBar::new(images);
    bar.set_style(
        ProgressStyle::with_template(
            "evaluating [{bar:30.green/blue}] {pos}/{len} img  {per_sec}  ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// A byte-counting bar for a download of `total` bytes (if known).
pub fn download_bar(url: &str, total: Option<u64>) -> ProgressBar {
    let bar = ProgressBar::new(total.unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
    bar
}
