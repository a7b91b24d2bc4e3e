//! An evaluation as people report it: top-1 and top-5 accuracy, and each class's precision,
//! recall and F1 with their macro and support-weighted averages (scikit-learn's
//! `classification_report`), as a text table, JSON and CSV. `eval` prints or writes it; a
//! training run keeps its last test evaluation as `eval.json` and `per_class.csv`.

use std::path::Path;

use serde::Serialize;

use crate::history::{ClassScores, EvalReport};

/// One class's row (its fields written out: the csv crate cannot write flattened structs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassRow {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

impl ClassRow {
    fn new(class: String, s: ClassScores) -> Self {
        Self {
            class,
            precision: s.precision,
            recall: s.recall,
            f1: s.f1,
            support: s.support,
        }
    }

    fn scores(&self) -> ClassScores {
        ClassScores {
            precision: self.precision,
            recall: self.recall,
            f1: self.f1,
            support: self.support,
        }
    }
}

/// What an evaluation found, ready to print or save.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalSummary {
    pub model: String,
    pub images: usize,
    /// Mean cross-entropy per image.
    pub loss: f64,
    /// Top-1 accuracy.
    pub top1: f64,
    /// Top-5 accuracy, for models of more than 5 classes.
    pub top5: Option<f64>,
    /// The classes that occur or are predicted (none past 1000 classes, where no confusion
    /// matrix is kept).
    pub classes: Vec<ClassRow>,
    pub macro_avg: ClassScores,
    pub weighted_avg: ClassScores,
    /// `confusion[true][predicted]`, over all the model's classes.
    pub confusion: Vec<Vec<u64>>,
}

impl EvalSummary {
    /// The summary of `report` for the model named `model` with classes `names`.
    pub fn new(model: &str, report: &EvalReport, names: &[String]) -> Self {
        let confusion = &report.confusion;
        let name = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
        let classes = confusion
            .seen_classes()
            .into_iter()
            .map(|c| ClassRow::new(name(c), confusion.scores(c)))
            .collect();
        let [macro_avg, weighted_avg] = confusion.averages();
        Self {
            model: model.to_string(),
            images: report.images,
            loss: report.loss,
            top1: report.accuracy,
            top5: report.top5,
            classes,
            macro_avg,
            weighted_avg,
            confusion: (0..confusion.classes)
                .map(|t| {
                    (0..confusion.classes)
                        .map(|p| confusion.count(t, p))
                        .collect()
                })
                .collect(),
        }
    }

    /// The accuracies as `eval` prints them: `test acc 0.912` or `test acc 0.912, top-5 0.998`.
    pub fn accuracies(&self) -> String {
        match self.top5 {
            Some(top5) => format!("test acc {:.3}, top-5 {top5:.3}", self.top1),
            None => format!("test acc {:.3}", self.top1),
        }
    }

    /// The per-class table with the two averages, as scikit-learn prints it.
    pub fn table(&self) -> String {
        let width = self
            .classes
            .iter()
            .map(|row| row.class.chars().count())
            .chain([12])
            .max()
            .unwrap_or(12);
        let line = |name: &str, s: &ClassScores| {
            format!(
                "{name:>width$}  {:>9.3}  {:>6.3}  {:>6.3}  {:>7}\n",
                s.precision, s.recall, s.f1, s.support
            )
        };
        let mut out = format!(
            "{:>width$}  {:>9}  {:>6}  {:>6}  {:>7}\n",
            "class", "precision", "recall", "f1", "images"
        );
        for row in &self.classes {
            out += &line(&row.class, &row.scores());
        }
        out += "\n";
        out += &line("macro avg", &self.macro_avg);
        out += &line("weighted avg", &self.weighted_avg);
        out
    }

    /// The whole summary as pretty JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary serializes")
    }

    /// A CSV row per class (`class,precision,recall,f1,support`), then `macro avg` and
    /// `weighted avg`.
    pub fn csv(&self) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let averages = [
            ("macro avg", self.macro_avg),
            ("weighted avg", self.weighted_avg),
        ]
        .map(|(class, scores)| ClassRow::new(class.into(), scores));
        for row in self.classes.iter().chain(&averages) {
            writer.serialize(row).expect("a row serializes into memory");
        }
        writer.into_inner().expect("writing to memory cannot fail")
    }

    /// Writes `eval.json` and `per_class.csv` into `dir`, each atomically.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        crate::fsutil::write_atomic(&dir.join("eval.json"), self.json().as_bytes())?;
        crate::fsutil::write_atomic(&dir.join("per_class.csv"), &self.csv())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Confusion;

    #[test]
    fn scores_and_averages_are_scikit_learns() {
        // y_true = [0, 0, 0, 1, 1, 2], y_pred = [0, 0, 1, 1, 2, 2], by scikit-learn's
        // definitions: precision 1 / 0.5 / 0.5, recall 2/3 / 0.5 / 1, f1 0.8 / 0.5 / 2/3;
        // macro means 0.667 / 0.722 / 0.656; weighted by support (3, 2, 1) 0.75 / 0.667 /
        // 0.678.
        let mut confusion = Confusion::new(4);
        for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (1, 2), (2, 2)] {
            confusion.add(t, p);
        }
        let report = EvalReport {
            loss: 0.5,
            accuracy: 4.0 / 6.0,
            images: 6,
            predictions: vec![0, 0, 1, 1, 2, 2],
            confusion,
            top5: None,
        };
        let names = ["a", "b", "c", "d"].map(String::from);
        let summary = EvalSummary::new("m", &report, &names);
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        let triple = |s: &ClassScores| [s.precision, s.recall, s.f1].map(round);
        let rows: Vec<[f64; 3]> = summary
            .classes
            .iter()
            .map(|r| triple(&r.scores()))
            .collect();
        assert_eq!(
            rows,
            [[1.0, 0.667, 0.8], [0.5, 0.5, 0.5], [0.5, 1.0, 0.667]]
        );
        // Class `d` neither occurs nor is predicted: not in the report.
        assert_eq!(summary.classes.len(), 3);
        assert_eq!(triple(&summary.macro_avg), [0.667, 0.722, 0.656]);
        assert_eq!(triple(&summary.weighted_avg), [0.75, 0.667, 0.678]);
        assert_eq!(summary.weighted_avg.support, 6);
        let csv = String::from_utf8(summary.csv()).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "class,precision,recall,f1,support");
        assert!(lines[1].starts_with("a,1.0,0.666"), "{csv}");
        assert!(lines[5].starts_with("weighted avg,0.75,"), "{csv}");
        let json: serde_json::Value = serde_json::from_str(&summary.json()).unwrap();
        assert_eq!(json["classes"][2]["class"], "c");
        assert_eq!(json["confusion"][1], serde_json::json!([0, 1, 1, 0]));
        assert!(json["top5"].is_null());
        assert_eq!(summary.accuracies(), "test acc 0.667");
        let table = summary.table();
        assert!(
            table.contains("weighted avg      0.750   0.667   0.678        6"),
            "{table}"
        );
    }
}
