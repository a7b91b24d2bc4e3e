//! Figures of a training run, drawn with plotters as PNG and SVG (no external program):
//! `curves` (loss, accuracy and learning rate per epoch, like d2l's animator), `confusion`
//! (the test set's confusion matrix with class names) and `predictions` (test images with true
//! and predicted labels, like d2l's `show_fashion_mnist`, wrong ones in red).
//!
//! Each figure is drawn into memory and written atomically: a reader never sees half a file.

mod confusion;
mod curves;
mod predictions;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once, OnceLock};

use plotters::coord::Shift;
use plotters::prelude::*;

use burn::data::dataset::Dataset;

use crate::data::RawImage;
use crate::history::{EpochReport, EvalReport, StepLoss};

pub use confusion::ConfusionFigure;
pub use curves::Curves;
pub use predictions::PredictionGrid;

/// A drawing error, as text.
pub type PlotResult<T = ()> = Result<T, Box<dyn Error>>;

/// The font every figure uses, bundled (DejaVu Sans) so that no system font is needed.
pub const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the `dejavu` crate.
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .unwrap_or_else(|_| panic!("the bundled DejaVu Sans font is valid"));
    });
}

/// One figure, drawable on any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static;
}

/// Draws `figure` as SVG and its rasterization as PNG (the same picture).
pub fn draw_figure(figure: &impl Figure) -> PlotResult<(String, Vec<u8>)> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        root.fill(&WHITE)?;
        figure.draw(&root)?;
        root.present()?;
    }
    let png = rasterize(&svg)?;
    Ok((svg, png))
}

/// An SVG drawing as PNG bytes, its text set in the bundled DejaVu Sans.
fn rasterize(svg: &str) -> PlotResult<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    let fonts = FONTS.get_or_init(|| {
        let mut fonts = usvg::fontdb::Database::new();
        fonts.load_font_data(dejavu::sans::regular().to_vec());
        fonts.set_sans_serif_family("DejaVu Sans");
        Arc::new(fonts)
    });
    let options = usvg::Options {
        fontdb: fonts.clone(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options)?;
    let size = tree.size().to_int_size();
    let mut pixmap =
        tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("a figure of no size")?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    Ok(pixmap.encode_png()?)
}

/// Draws `figure` and writes it as `stem.png` and `stem.svg` in `dir`; returns the two paths.
pub fn render(dir: &Path, stem: &str, figure: &impl Figure) -> PlotResult<[PathBuf; 2]> {
    let (svg, png) = draw_figure(figure)?;
    let paths = [
        dir.join(format!("{stem}.png")),
        dir.join(format!("{stem}.svg")),
    ];
    crate::fsutil::write_atomic(&paths[0], &png)?;
    crate::fsutil::write_atomic(&paths[1], svg.as_bytes())?;
    Ok(paths)
}

/// Everything the three figures of a run are drawn from.
pub struct RunFigures<'a> {
    /// Every completed epoch.
    pub history: &'a [EpochReport],
    /// The running loss every few steps.
    pub steps: &'a [StepLoss],
    /// The last evaluation on the test set (in file order).
    pub eval: &'a EvalReport,
    pub test_set: &'a dyn Dataset<RawImage>,
    /// Optimizer steps per epoch, to place the per-step losses.
    pub steps_per_epoch: usize,
    /// Class names, in label order.
    pub class_names: Vec<String>,
}

impl RunFigures<'_> {
    /// Writes `curves`, `confusion` and `predictions` (`.png` and `.svg`) into `dir`.
    pub fn draw(&self, dir: &Path) -> PlotResult<Vec<PathBuf>> {
        let curves = Curves {
            history: self.history,
            steps: self.steps,
            steps_per_epoch: self.steps_per_epoch,
        };
        let confusion = ConfusionFigure {
            confusion: &self.eval.confusion,
            names: &self.class_names,
            title: self.title(),
        };
        let predictions = PredictionGrid {
            test_set: self.test_set,
            predictions: &self.eval.predictions,
            names: &self.class_names,
        };
        let mut written = Vec::new();
        written.extend(render(dir, "curves", &curves)?);
        written.extend(render(dir, "confusion", &confusion)?);
        written.extend(render(dir, "predictions", &predictions)?);
        Ok(written)
    }

    fn title(&self) -> String {
        let epoch = self.history.last().map_or(0, |r| r.epoch);
        format!(
            "confusion matrix after epoch {epoch}: test acc {:.3} on {} images",
            self.eval.accuracy, self.eval.images
        )
    }
}
