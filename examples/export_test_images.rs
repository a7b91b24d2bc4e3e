//! Writes the first N Fashion-MNIST test images as PNG files, to try `inception predict` on.
//!
//! ```sh
//! cargo run --release --example export_test_images -- 5 images/
//! cargo run --release -- predict --checkpoint runs/latest/model.ckpt images/*.png
//! ```

use std::path::PathBuf;

use burn::data::dataset::Dataset;
use inception::data::{locate, FashionMnist, Split, CLASS_NAMES};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let out = PathBuf::from(args.next().unwrap_or_else(|| "images".into()));
    let test = FashionMnist::load(&locate(None, true)?, Split::Test)?;
    std::fs::create_dir_all(&out)?;
    for index in 0..count.min(test.len()) {
        let item = test.get(index)?;
        let name = CLASS_NAMES[item.label as usize]
            .replace(['/', ' '], "-")
            .to_lowercase();
        let path = out.join(format!("{index:04}-{name}.png"));
        item.to_dynamic().save(&path)?;
        println!("{}", path.display());
    }
    Ok(())
}
