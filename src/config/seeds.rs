//! Seed lists as the command line writes them: `3`, `1,4,9`, `1..5`.

/// Parses a seed list: `3`, `1,4,9`, `1..5` (inclusive), or a mix
/// (`1..3,7`). Duplicates are an error, as they would overwrite a run.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("invalid seed list '{text}' (expected e.g. 1, 1,4,9 or 1..5)");
    let mut seeds = Vec::new();
    for part in text.split(',').map(str::trim) {
        if let Some((a, b)) = part.split_once("..") {
            let (a, b): (u64, u64) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            if a > b {
                return Err(format!("invalid seed range '{part}': {a} is above {b}"));
            }
            if b - a >= 100_000 {
                return Err(format!(
                    "seed range '{part}' is too long (at most 100000 seeds)"
                ));
            }
            seeds.extend(a..=b);
        } else {
            seeds.push(part.parse().map_err(|_| bad())?);
        }
    }
    let mut sorted = seeds.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("seed {} appears twice in '{text}'", w[0]));
    }
    Ok(seeds)
}

#[cfg(test)]
mod seed_list_tests {
    use super::parse_seeds;

    #[test]
    fn seed_lists() {
        assert_eq!(parse_seeds("3").unwrap(), [3]);
        assert_eq!(parse_seeds("1..5").unwrap(), [1, 2, 3, 4, 5]);
        assert_eq!(parse_seeds("1,4,9").unwrap(), [1, 4, 9]);
        assert_eq!(parse_seeds("1..2, 7").unwrap(), [1, 2, 7]);
        assert!(parse_seeds("5..1").unwrap_err().contains("5 is above 1"));
        assert!(parse_seeds("1,x")
            .unwrap_err()
            .contains("invalid seed list '1,x'"));
        assert!(parse_seeds("").is_err());
        assert!(parse_seeds("1..3,2")
            .unwrap_err()
            .contains("seed 2 appears twice"));
    }
}
