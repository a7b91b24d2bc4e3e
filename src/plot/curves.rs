//! Loss, accuracy and learning rate against epochs, as d2l's animator draws them during
//! `train_ch5`: one point per epoch for the epoch figures, a thin line for the running loss
//! recorded every `--log-every` steps.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Figure, PlotResult, FONT};
use crate::history::{EpochReport, StepLoss};

const TRAIN: RGBColor = RGBColor(31, 119, 180);
const TEST: RGBColor = RGBColor(214, 39, 40);
const STEPS: RGBColor = RGBColor(140, 180, 220);

/// The curves of a run so far.
pub struct Curves<'a> {
    /// Every completed epoch.
    pub history: &'a [EpochReport],
    /// The running loss every few steps.
    pub steps: &'a [StepLoss],
    pub steps_per_epoch: usize,
}

impl Figure for Curves<'_> {
    fn size(&self) -> (u32, u32) {
        (1200, 400)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        let panels = area.split_evenly((1, 3));
        let history = self.history;
        let epochs = history.iter().map(|r| r.epoch).max().unwrap_or(1).max(1) as f64;
        let x = |step: u64| step as f64 / self.steps_per_epoch.max(1) as f64;
        let epoch_points = |f: fn(&EpochReport) -> f64| -> Vec<(f64, f64)> {
            history.iter().map(|r| (r.epoch as f64, f(r))).collect()
        };

        // Loss: the running loss within each epoch, and the per-epoch means.
        let steps = self.steps;
        let train_loss = epoch_points(|r| r.loss);
        let test_loss = epoch_points(|r| r.test_loss);
        let top = steps
            .iter()
            .map(|s| s.loss)
            .chain(train_loss.iter().chain(&test_loss).map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let mut chart = make_chart(&panels[0], "loss", epochs, 0.0..(top * 1.1).max(0.1))?;
        for epoch in 1..=epochs as usize {
            let segment: Vec<(f64, f64)> = steps
                .iter()
                .filter(|s| s.epoch == epoch)
                .map(|s| (x(s.step), s.loss))
                .collect();
            let series = chart.draw_series(LineSeries::new(segment, STEPS.stroke_width(1)))?;
            if epoch == 1 {
                series
                    .label("running train loss")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], STEPS));
            }
        }
        series(&mut chart, train_loss, TRAIN, "train loss")?;
        series(&mut chart, test_loss, TEST, "test loss")?;
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;

        // Accuracy.
        let train_acc = epoch_points(|r| r.train_acc);
        let test_acc = epoch_points(|r| r.test_acc);
        let low = train_acc
            .iter()
            .chain(&test_acc)
            .map(|p| p.1)
            .fold(1.0f64, f64::min);
        let bottom = ((low - 0.05) * 10.0).floor() / 10.0;
        let mut chart = make_chart(&panels[1], "accuracy", epochs, bottom.max(0.0)..1.0)?;
        series(&mut chart, train_acc, TRAIN, "train acc")?;
        series(&mut chart, test_acc, TEST, "test acc")?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;

        // Learning rate, step by step where recorded.
        let mut rates: Vec<(f64, f64)> = steps.iter().map(|s| (x(s.step), s.lr)).collect();
        if rates.is_empty() {
            rates = epoch_points(|r| r.lr);
        }
        let peak = rates.iter().map(|p| p.1).fold(0.0f64, f64::max);
        let mut chart = make_chart(
            &panels[2],
            "learning rate",
            epochs,
            0.0..(peak * 1.1).max(1e-9),
        )?;
        chart.draw_series(LineSeries::new(rates, TRAIN.stroke_width(2)))?;
        Ok(())
    }
}

type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn make_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    epochs: f64,
    y: std::ops::Range<f64>,
) -> PlotResult<Chart<'a, DB>>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        // Room for the last tick label, centred on the right edge.
        .margin_right(24)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..epochs, y)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    Ok(chart)
}

/// A per-epoch series: a line through dots.
fn series<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    label: &str,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    chart
        .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart.draw_series(
        points
            .into_iter()
            .map(|p| Circle::new(p, 3, color.filled())),
    )?;
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    at: SeriesLabelPosition,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(at)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()?;
    Ok(())
}
