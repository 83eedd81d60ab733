//! ClipTokenizer against open_clip 3.3.0's SimpleTokenizer, row for row.
//! Reference: `tests/reference/tokens.py` -> `target/reference/tokens/tokens.json`.

use std::path::PathBuf;
use std::sync::Arc;

use rwclip_inputs::tokenizer::{ClipTokenizer, TokenizerError, EOT_TOKEN, SOT_TOKEN, VOCAB_SIZE};
use serde::Deserialize;

const CONTEXT_LENGTH: usize = 77;

#[derive(Deserialize)]
struct Reference {
    context_length: usize,
    prompts: Vec<String>,
    tokens: Vec<Vec<i64>>,
    ids: Vec<Vec<u32>>,
}

fn reference() -> Reference {
    let path = PathBuf::from(env!("RWCLIP_REFERENCE_DIR")).join("tokens/tokens.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run `make reference` first",
            path.display()
        )
    });
    let reference: Reference = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e}; run `make reference`", path.display()));
    assert_eq!(
        reference.prompts.len(),
        reference.tokens.len(),
        "prompts vs token rows in {}",
        path.display()
    );
    assert_eq!(
        reference.prompts.len(),
        reference.ids.len(),
        "prompts vs id lists in {}",
        path.display()
    );
    assert_eq!(reference.context_length, CONTEXT_LENGTH);
    reference
}

fn tokenizer() -> ClipTokenizer {
    ClipTokenizer::new().expect("tokenizer over the embedded merge list")
}

#[test]
fn every_reference_row_matches_open_clip() {
    let reference = reference();
    let tokenizer = tokenizer();
    let mut mismatches = Vec::new();
    for ((prompt, expected_row), expected_ids) in reference
        .prompts
        .iter()
        .zip(&reference.tokens)
        .zip(&reference.ids)
    {
        let ids = tokenizer.encode(prompt).expect("encode");
        let row = tokenizer
            .tokenize(prompt, CONTEXT_LENGTH)
            .expect("tokenize");
        if &ids != expected_ids || &row != expected_row {
            mismatches.push(format!(
                "prompt {prompt:?}\n  open_clip ids {expected_ids:?}\n  ours      ids {ids:?}\n  open_clip row {expected_row:?}\n  ours      row {row:?}"
            ));
        }
    }
    let over_long = reference
        .ids
        .iter()
        .filter(|ids| ids.len() + 2 > CONTEXT_LENGTH)
        .count();
    println!(
        "compared {} prompts ({over_long} over-long) with open_clip; {} differ",
        reference.prompts.len(),
        mismatches.len()
    );
    assert!(
        reference.prompts.len() >= 1200,
        "reference has only {} prompts",
        reference.prompts.len()
    );
    assert!(
        over_long > 0,
        "the reference has no over-long prompt, truncation is untested"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} prompts differ:\n{}",
        mismatches.len(),
        reference.prompts.len(),
        mismatches.join("\n")
    );
}

#[test]
fn batch_is_the_rows_concatenated() {
    let reference = reference();
    let tokenizer = tokenizer();
    let texts: Vec<String> = reference.prompts.iter().take(50).cloned().collect();
    let batch = tokenizer
        .tokenize_batch(&texts, CONTEXT_LENGTH)
        .expect("batch");
    let expected: Vec<i64> = reference
        .tokens
        .iter()
        .take(50)
        .flatten()
        .copied()
        .collect();
    assert_eq!(batch.len(), texts.len() * CONTEXT_LENGTH);
    assert_eq!(batch, expected);
}

#[test]
fn facts_example_prompt() {
    // FACTS.md: `a photo of a damaged object` -> 49406 320 1125 539 320 13568 14115 49407 0 ...
    let row = tokenizer()
        .tokenize("a photo of a damaged object", CONTEXT_LENGTH)
        .expect("tokenize");
    let mut expected = vec![49406, 320, 1125, 539, 320, 13568, 14115, 49407];
    expected.resize(CONTEXT_LENGTH, 0);
    assert_eq!(row, expected);
}

#[test]
fn over_long_text_is_cut_with_end_token_last() {
    let tokenizer = tokenizer();
    let text = vec!["photo"; 100].join(" ");
    let ids = tokenizer.encode(&text).expect("encode");
    assert_eq!(ids.len(), 100, "`photo` is one BPE token (1125)");
    let row = tokenizer.tokenize(&text, CONTEXT_LENGTH).expect("tokenize");
    assert_eq!(row.len(), CONTEXT_LENGTH);
    assert_eq!(row[0], i64::from(SOT_TOKEN));
    assert!(row[1..CONTEXT_LENGTH - 1].iter().all(|&id| id == 1125));
    assert_eq!(row[CONTEXT_LENGTH - 1], i64::from(EOT_TOKEN));
    // Exactly full (75 ids + start + end) is not cut; one more id is.
    let fits = vec!["photo"; 75].join(" ");
    assert_eq!(
        tokenizer.tokenize(&fits, CONTEXT_LENGTH).expect("tokenize")[CONTEXT_LENGTH - 2],
        1125
    );
    // Tiny contexts, as open_clip: [start, end] cut to one slot holds only the end token.
    assert_eq!(
        tokenizer.tokenize("photo", 1).expect("tokenize"),
        vec![i64::from(EOT_TOKEN)]
    );
    assert_eq!(
        tokenizer.tokenize("photo", 2).expect("tokenize"),
        vec![i64::from(SOT_TOKEN), i64::from(EOT_TOKEN)]
    );
    assert!(matches!(
        tokenizer.tokenize("photo", 0),
        Err(TokenizerError::ZeroContextLength)
    ));
}

#[test]
fn empty_and_blank_texts_are_start_end_padding() {
    let tokenizer = tokenizer();
    let mut expected = vec![i64::from(SOT_TOKEN), i64::from(EOT_TOKEN)];
    expected.resize(CONTEXT_LENGTH, 0);
    for text in ["", "   ", "\n\t"] {
        assert!(tokenizer.encode(text).expect("encode").is_empty());
        assert_eq!(
            tokenizer.tokenize(text, CONTEXT_LENGTH).expect("tokenize"),
            expected
        );
    }
    assert!(tokenizer
        .tokenize_batch(&[], CONTEXT_LENGTH)
        .expect("batch")
        .is_empty());
}

#[test]
fn ids_stay_inside_the_vocabulary() {
    let reference = reference();
    let tokenizer = tokenizer();
    for prompt in &reference.prompts {
        let ids = tokenizer.encode(prompt).expect("encode");
        assert!(
            ids.iter().all(|&id| (id as usize) < VOCAB_SIZE),
            "{prompt:?} -> {ids:?}"
        );
    }
}

#[test]
fn from_bpe_gz_matches_embedded_and_reports_missing_file() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/bpe_simple_vocab_16e6.txt.gz");
    let from_file = ClipTokenizer::from_bpe_gz(&path).expect("tokenizer from the asset file");
    let text = "a photo of a damaged object, it's café";
    assert_eq!(
        from_file.encode(text).expect("encode"),
        tokenizer().encode(text).expect("encode")
    );

    let missing = PathBuf::from("/nonexistent/bpe.txt.gz");
    let err = ClipTokenizer::from_bpe_gz(&missing)
        .err()
        .expect("missing file is an error");
    assert!(err.to_string().contains("/nonexistent/bpe.txt.gz"), "{err}");
}

#[test]
fn truncated_merge_list_is_rejected() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("short.txt.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"#version: 0.2\ni n\nt h\n").expect("gzip");
    std::fs::write(&path, gz.finish().expect("gzip")).expect("write");
    let err = ClipTokenizer::from_bpe_gz(&path)
        .err()
        .expect("short merge list is an error");
    assert!(
        matches!(err, TokenizerError::TooFewMerges { found: 3, .. }),
        "{err}"
    );
}

#[test]
fn tokenizer_is_shareable_across_threads() {
    let tokenizer = Arc::new(tokenizer());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let tokenizer = Arc::clone(&tokenizer);
            std::thread::spawn(move || {
                tokenizer
                    .encode("a photo of a damaged object")
                    .expect("encode")
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(
            handle.join().expect("thread"),
            vec![320, 1125, 539, 320, 13568, 14115]
        );
    }
}
