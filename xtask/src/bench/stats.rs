//! Small statistics over noisy samples: medians, and overheads relative to a baseline.

/// The median of `samples` (the mean of the middle two for an even count); NaN when empty.
pub fn median(samples: &[f64]) -> f64 {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// `(with - base) / base`: the fraction a tool adds to the baseline cost.
pub fn overhead(with: f64, base: f64) -> f64 {
    (with - base) / base
}

/// Per-round overheads, each round's tool run compared with the mean of the baselines
/// measured just before and just after it (`bases` has one more entry than `with`), so a
/// machine that slows down or speeds up during the run does not bias the ratio.
pub fn bracketed_overheads(with: &[f64], bases: &[f64]) -> Vec<f64> {
    with.iter()
        .enumerate()
        .filter_map(|(i, &w)| {
            let before = *bases.get(i)?;
            let after = bases.get(i + 1).copied().unwrap_or(before);
            Some(overhead(w, (before + after) / 2.0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
    }

    #[test]
    fn overheads_use_the_baselines_around_each_round() {
        assert!((overhead(110.0, 100.0) - 0.10).abs() < 1e-12);
        let o = bracketed_overheads(&[105.0, 220.0], &[100.0, 110.0, 220.0]);
        assert_eq!(o.len(), 2);
        assert!(o[0].abs() < 1e-12);
        assert!((o[1] - (220.0 / 165.0 - 1.0)).abs() < 1e-12);
    }
}
