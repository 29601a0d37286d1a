//! Medians, pairwise ratios and the number formats of the benchmark tables.

/// The median of `values` (the mean of the two middle values for an even count);
/// None when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// One measurement taken for ours and for the peer in the same repetitions.
#[derive(Debug, Default, Clone)]
pub struct Pairs {
    pub ours: Vec<f64>,
    pub peer: Vec<f64>,
}

impl Pairs {
    pub fn push(&mut self, ours: f64, peer: f64) {
        self.ours.push(ours);
        self.peer.push(peer);
    }

    /// The median of the per-repetition ratios ours/peer.
    pub fn ratio(&self) -> Option<f64> {
        let ratios: Vec<f64> = self
            .ours
            .iter()
            .zip(&self.peer)
            .filter(|(_, p)| **p > 0.0)
            .map(|(o, p)| o / p)
            .collect();
        median(&ratios)
    }

    /// A Markdown table row: label, median ours, median peer, ratio, and extra cells.
    pub fn row(&self, label: &str, format: fn(f64) -> String, extra: &[String]) -> String {
        let cell = |v: Option<f64>| v.map(format).unwrap_or_else(|| "–".into());
        let mut cells = vec![
            label.to_string(),
            cell(median(&self.ours)),
            cell(median(&self.peer)),
            self.ratio()
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "–".into()),
        ];
        cells.extend(extra.iter().cloned());
        format!("| {} |", cells.join(" | "))
    }
}

/// Seconds as `12.3 ms` or `1.23 s`.
pub fn duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.2} s")
    }
}

/// Bytes as `12.3 MiB`.
pub fn mebibytes(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// A plain number with two decimals.
pub fn number(value: f64) -> String {
    format!("{value:.2}")
}

/// A Markdown table header with its separator line.
pub fn header(columns: &[&str]) -> String {
    let separator: Vec<&str> = columns.iter().map(|_| "---").collect();
    format!("| {} |\n| {} |", columns.join(" | "), separator.join(" | "))
}

/// A failure, as a Markdown paragraph with the message in a code block.
pub fn error_block(context: &str, message: &str) -> String {
    format!(
        "\nFailed ({context}):\n\n```text\n{}\n```\n",
        message.trim()
    )
}
