//! Properties of the random-word prompt generator (paper §3.2).

use std::collections::BTreeMap;

use rwclip_job::prompts::{guide_prompts, PromptError, PromptPair, PromptGenerator, ALPHABET};

/// Splits a generated prompt back into its random words, checking the template.
fn random_words<'a>(prompt: &'a str, state_word: &str) -> Vec<&'a str> {
    let tokens: Vec<&str> = prompt.split(' ').collect();
    let state_len = state_word.split(' ').count();
    assert_eq!(tokens.len(), 8 + state_len, "template shape of {prompt:?}");
    assert_eq!(&tokens[1..2], ["a"], "{prompt:?}");
    assert_eq!(&tokens[3..4], ["photo"], "{prompt:?}");
    assert_eq!(&tokens[5..6], ["of"], "{prompt:?}");
    assert_eq!(tokens[7..7 + state_len].join(" "), state_word, "{prompt:?}");
    vec![
        tokens[0],
        tokens[2],
        tokens[4],
        tokens[6],
        tokens[7 + state_len],
    ]
}

#[test]
fn default_spec_is_the_papers() {
    let spec = PromptGenerator::default();
    assert_eq!(
        (
            spec.seed,
            spec.normal_word.as_str(),
            spec.anomaly_word.as_str()
        ),
        (0, "a", "a damaged")
    );
    assert_eq!((spec.min_len, spec.max_len), (5, 10));
    spec.validate().unwrap();
}

#[test]
fn prompts_follow_the_two_templates() {
    let spec = PromptGenerator::default();
    for pair in spec.pairs(0, 100) {
        assert_eq!(random_words(&pair.normal, "a").len(), 5);
        assert_eq!(random_words(&pair.anomaly, "a damaged").len(), 5);
        assert!(!pair.normal.contains("  ") && !pair.anomaly.contains("  "));
    }
}

#[test]
fn a_prefix_of_a_longer_run_is_the_shorter_run() {
    let spec = PromptGenerator {
        seed: 7,
        ..PromptGenerator::default()
    };
    let long = spec.pairs(0, 50_000);
    assert_eq!(long.len(), 50_000);
    assert_eq!(spec.pairs(0, 1000), long[..1000]);
}

#[test]
fn ranges_equal_individual_pairs() {
    let spec = PromptGenerator {
        seed: 3,
        ..PromptGenerator::default()
    };
    let range = spec.pairs(12_345, 200);
    let single: Vec<PromptPair> = (12_345..12_545).map(|i| spec.pair(i)).collect();
    assert_eq!(range, single);
    assert_eq!(
        range.iter().map(|p| p.pair_id).collect::<Vec<_>>(),
        (12_345..12_545).collect::<Vec<_>>()
    );
    assert_eq!(
        spec.pairs(u64::MAX, 5).len(),
        1,
        "ranges stop at u64::MAX instead of overflowing"
    );
}

#[test]
fn seeds_and_pair_ids_give_different_prompts() {
    let a = PromptGenerator {
        seed: 0,
        ..PromptGenerator::default()
    }
    .pairs(0, 1000);
    let b = PromptGenerator {
        seed: 1,
        ..PromptGenerator::default()
    }
    .pairs(0, 1000);
    let same = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x.normal == y.normal || x.anomaly == y.anomaly)
        .count();
    assert_eq!(same, 0, "seeds 0 and 1 share {same} prompts");
    let mut distinct: Vec<&str> = a
        .iter()
        .flat_map(|p| [p.normal.as_str(), p.anomaly.as_str()])
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 2000, "prompts within one seed repeat");
}

#[test]
fn words_cover_exactly_the_length_range_and_alphabet() {
    let spec = PromptGenerator {
        seed: 11,
        ..PromptGenerator::default()
    };
    let mut lengths: BTreeMap<usize, usize> = BTreeMap::new();
    let mut chars: BTreeMap<char, usize> = BTreeMap::new();
    for pair in spec.pairs(0, 20_000) {
        let words = random_words(&pair.normal, "a")
            .into_iter()
            .chain(random_words(&pair.anomaly, "a damaged"));
        for word in words {
            *lengths.entry(word.len()).or_default() += 1;
            for c in word.chars() {
                *chars.entry(c).or_default() += 1;
            }
        }
    }
    assert_eq!(
        lengths.keys().copied().collect::<Vec<_>>(),
        (5..=10).collect::<Vec<_>>()
    );
    let alphabet: Vec<char> = {
        let mut v: Vec<char> = ALPHABET.iter().map(|&b| char::from(b)).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(chars.keys().copied().collect::<Vec<_>>(), alphabet);
    // 200k words, 6 lengths: each ~33.3k; 36 symbols over ~1.5M chars: each ~41.7k.
    // Bounds are > 10 standard deviations wide, so they fail only for real bias.
    let words: usize = lengths.values().sum();
    for (len, &n) in &lengths {
        let share = n as f64 / words as f64;
        assert!(
            (share - 1.0 / 6.0).abs() < 0.01,
            "length {len} has share {share}"
        );
    }
    let total: usize = chars.values().sum();
    for (c, &n) in &chars {
        let share = n as f64 / total as f64;
        assert!(
            (share - 1.0 / 36.0).abs() < 0.002,
            "char {c} has share {share}"
        );
    }
}

#[test]
fn custom_words_and_fixed_lengths() {
    let spec = PromptGenerator {
        seed: 5,
        normal_word: "  a flawless ".to_string(),
        anomaly_word: "a broken".to_string(),
        min_len: 3,
        max_len: 3,
    };
    spec.validate().unwrap();
    let pair = spec.pair(9);
    for word in random_words(&pair.normal, "a flawless")
        .into_iter()
        .chain(random_words(&pair.anomaly, "a broken"))
    {
        assert_eq!(word.len(), 3, "{pair:?}");
    }
}

#[test]
fn validate_rejects_bad_specs() {
    let base = PromptGenerator::default();
    assert_eq!(
        PromptGenerator {
            min_len: 0,
            ..base.clone()
        }
        .validate(),
        Err(PromptError::ZeroMinLen { min_len: 0 })
    );
    assert_eq!(
        PromptGenerator {
            min_len: 6,
            max_len: 5,
            ..base.clone()
        }
        .validate(),
        Err(PromptError::MinAboveMax {
            min_len: 6,
            max_len: 5
        })
    );
    assert_eq!(
        PromptGenerator {
            normal_word: "  ".into(),
            ..base.clone()
        }
        .validate(),
        Err(PromptError::EmptyWord { which: "normal" })
    );
    assert_eq!(
        PromptGenerator {
            anomaly_word: String::new(),
            ..base.clone()
        }
        .validate(),
        Err(PromptError::EmptyWord { which: "anomaly" })
    );
    // Invalid specs still produce output rather than panicking.
    let _ = PromptGenerator {
        min_len: 9,
        max_len: 2,
        ..base
    }
    .pair(0);
}

#[test]
fn guide_prompts_use_the_object_word() {
    assert_eq!(
        guide_prompts("a", "a damaged", "object"),
        (
            "a photo of a object".to_string(),
            "a photo of a damaged object".to_string()
        )
    );
    assert_eq!(
        guide_prompts("a", "a damaged", "screw"),
        (
            "a photo of a screw".to_string(),
            "a photo of a damaged screw".to_string()
        )
    );
}

/// The module doc is the format's specification: an independent Python
/// implementation written from that text alone must produce the same prompts.
const DOCUMENTED_ALGORITHM_PY: &str = r#"
import json, sys
M = (1 << 64) - 1
def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
def pair(seed, pair_id, n_word, a_word, lo, hi):
    state = mix(mix(seed ^ 0x7277636C69700001) ^ pair_id)
    def draw(n):
        nonlocal state
        threshold = ((1 << 64) - n) % n
        while True:
            state = (state + 0x9E3779B97F4A7C15) & M
            x = mix(state)
            if x >= threshold:
                return x % n
    words = []
    for _ in range(10):
        length = lo + draw(hi - lo + 1)
        words.append("".join(ALPHABET[draw(36)] for _ in range(length)))
    w = words
    return [f"{w[0]} a {w[1]} photo {w[2]} of {w[3]} {n_word.strip()} {w[4]}",
            f"{w[5]} a {w[6]} photo {w[7]} of {w[8]} {a_word.strip()} {w[9]}"]
out = []
for seed, ids, n_word, a_word, lo, hi in json.loads(sys.argv[1]):
    out.append([pair(seed, i, n_word, a_word, lo, hi) for i in ids])
print(json.dumps(out))
"#;

#[test]
fn generator_matches_an_independent_implementation_of_the_documented_algorithm() {
    let specs = [
        PromptGenerator::default(),
        PromptGenerator {
            seed: 42,
            ..PromptGenerator::default()
        },
        PromptGenerator {
            seed: u64::MAX,
            normal_word: "a flawless".into(),
            anomaly_word: "a cracked".into(),
            min_len: 1,
            max_len: 30,
        },
    ];
    let ids: Vec<u64> = vec![0, 1, 2, 999, 1 << 40, u64::MAX];
    let args: Vec<serde_json::Value> = specs
        .iter()
        .map(|s| {
            serde_json::json!([
                s.seed,
                ids,
                s.normal_word,
                s.anomaly_word,
                s.min_len,
                s.max_len
            ])
        })
        .collect();
    let output = std::process::Command::new(env!("RWCLIP_PYTHON"))
        .args([
            "-c",
            DOCUMENTED_ALGORITHM_PY,
            &serde_json::to_string(&args).unwrap(),
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (make bootstrap): {e}", env!("RWCLIP_PYTHON")));
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: Vec<Vec<[String; 2]>> =
        serde_json::from_slice(&output.stdout).expect("python output json");
    for (spec, expected_pairs) in specs.iter().zip(expected) {
        for (&id, [normal, anomaly]) in ids.iter().zip(expected_pairs) {
            let pair = spec.pair(id);
            assert_eq!(
                (pair.normal.as_str(), pair.anomaly.as_str()),
                (normal.as_str(), anomaly.as_str()),
                "seed {} pair {id}",
                spec.seed
            );
        }
    }
}
