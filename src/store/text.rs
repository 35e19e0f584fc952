//! What runs report as text: summary.json, predictions.csv, Markdown
//! tables and the console lines; each a function from results to text, so
//! formats are tested without files.

use anyhow::Result;

use super::evaluation::Evaluation;
use super::history::EpochRecord;
use super::summary::Summary;

/// predictions.csv: one line per test row; `row` is the row's index in the
/// whole data set (the blog's `Y[2560 + i]`).
pub fn predictions_csv(e: &Evaluation, first_row: i64) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["row", "target", "prediction", e.last_column])?;
    for (i, [target, prediction, last]) in e.lines.iter().enumerate() {
        w.write_record([
            &(first_row + i as i64).to_string(),
            target,
            prediction,
            last,
        ])?;
    }
    Ok(w.into_inner()?)
}

pub fn summary_json(s: &Summary) -> Result<String> {
    Ok(serde_json::to_string_pretty(s)? + "\n")
}

/// A Markdown table: a header row, its separator, one row per entry.
pub fn markdown_table(headers: &[String], rows: &[Vec<String>]) -> String {
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut text = line(headers);
    text += &line(&vec!["---".to_string(); headers.len()]).replace(' ', "");
    for row in rows {
        debug_assert_eq!(row.len(), headers.len());
        text += &line(row);
    }
    text
}

/// A number in scientific notation for tables, "–" when undefined.
pub fn sci(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.3e}"))
}

/// Keras prints `%.4f`, switching to `%.4e` below 1e-3.
fn keras_number(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.4e}")
    } else {
        format!("{x:.4}")
    }
}

/// The Keras-like line printed after each epoch.
pub fn epoch_line(r: &EpochRecord, epochs: i64, batches: i64) -> String {
    format!(
        "Epoch {}/{epochs} - {batches}/{batches} - {:.2}s - loss: {} - val_loss: {}",
        r.epoch + 1,
        r.seconds(),
        keras_number(r.loss()),
        keras_number(r.val_loss())
    )
}

/// The blog's closing report: the test loss beside the chance `baseline`,
/// the first five test rows, and the correctness (the task's score).
pub fn final_report(e: &Evaluation, baseline: f64) -> String {
    let mut text = format!(
        "test {}: {} (chance: {})\n",
        e.loss_name,
        keras_number(e.test_loss),
        keras_number(baseline)
    );
    for line in &e.report {
        text += line;
        text += "\n";
    }
    text += &format!("correctness: {:.2} %\n", e.correctness);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluation() -> Evaluation {
        Evaluation::of(0.00012345, vec![0.26, 0.2, 0.5], vec![0.25, 0.1, 0.5])
    }

    #[test]
    fn markdown_tables_line_up() {
        let t = markdown_table(
            &["a".into(), "b c".into()],
            &[
                vec!["1".into(), sci(Some(0.000123456))],
                vec!["2".into(), sci(None)],
            ],
        );
        assert_eq!(t, "| a | b c |\n|---|---|\n| 1 | 1.235e-4 |\n| 2 | – |\n");
    }

    #[test]
    fn predictions_csv_text() {
        let text = String::from_utf8(predictions_csv(&evaluation(), 2560).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "row,target,prediction,abs_error");
        assert_eq!(
            lines[1],
            format!("2560,0.25,0.26,{}", (0.26f32 - 0.25f32).abs())
        );
        assert_eq!(lines[3], "2562,0.5,0.5,0");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn console_lines() {
        let r = EpochRecord::core(11, 0.047, 0.00049123, 0.623, 0.5);
        assert_eq!(
            epoch_line(&r, 100, 64),
            "Epoch 12/100 - 64/64 - 0.62s - loss: 0.0470 - val_loss: 4.9123e-4"
        );
        let report = final_report(&evaluation(), 0.0489);
        assert_eq!(
            report,
            "test mse: 1.2345e-4 (chance: 0.0489)\n0.250000\t0.260000\tdiff: 0.010000\n0.100000\t0.200000\tdiff: 0.100000\n\
             0.500000\t0.500000\tdiff: 0.000000\ncorrectness: 66.67 %\n"
        );
    }
}
