//! The CLIP text tokenizer, reproducing open_clip 3.3.0's `SimpleTokenizer` (clean = "lower")
//! id for id: text cleaning (`text_clean::clean`), open_clip's regex split, byte-to-unicode
//! mapping and byte-pair merges over OpenAI's `bpe_simple_vocab_16e6` merge list.
//!
//! The byte-level BPE itself runs in the `tokenizers` crate, configured like open_clip's
//! vocabulary: 256 byte characters, the same with `</w>`, 48,894 merges, then
//! `<start_of_text>` and `<end_of_text>` (ids 49406 and 49407).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use regex::Regex;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{SplitDelimiterBehavior, Tokenizer};

use crate::text_clean::clean;

/// `<start_of_text>`: first id of every tokenized row.
pub const SOT_TOKEN: u32 = 49406;
/// `<end_of_text>`: closes every row; the text transformer pools at its position.
pub const EOT_TOKEN: u32 = 49407;
/// 256 byte symbols + 256 word-final byte symbols + 48,894 merges + 2 special tokens.
pub const VOCAB_SIZE: usize = 49408;

/// OpenAI's merge list as shipped in open-clip-torch (MIT, see assets/LICENSE-bpe_simple_vocab.md).
const EMBEDDED_BPE_GZ: &[u8] = include_bytes!("../assets/bpe_simple_vocab_16e6.txt.gz");
const EMBEDDED_BPE_NAME: &str = "embedded bpe_simple_vocab_16e6.txt.gz";

/// open_clip reads merge lines `1 ..= 49152 - 256 - 2` (line 0 is a version header).
const MERGE_COUNT: usize = 49152 - 256 - 2;
const START_OF_TEXT: &str = "<start_of_text>";
const END_OF_TEXT: &str = "<end_of_text>";
const END_OF_WORD: &str = "</w>";

/// open_clip's split pattern `special|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
/// compiled there with IGNORECASE. On already lower-cased text IGNORECASE changes only two
/// things (checked against Python's `regex` over every code point): `s` also matches `ſ`
/// (U+017F, which case-folds to `s`), and U+0345 COMBINING GREEK YPOGEGRAMMENI (which
/// case-folds to the letter `ι`) matches no alternative at all and is dropped. Both are
/// spelled out here instead of using `(?i)`, whose class folding treats U+0345 differently.
const SPLIT_PATTERN: &str = r"<[sſ]tart_of_text>|<end_of_text>|'[sſ]|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}\x{345}]+";

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("cannot read the BPE merge list {vocab}: {source}")]
    ReadMerges {
        vocab: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the BPE merge list {vocab} is not UTF-8 text: {source}")]
    MergesNotUtf8 {
        vocab: String,
        #[source]
        source: std::string::FromUtf8Error,
    },
    #[error("the BPE merge list {vocab} has {found} merge lines after its header; open_clip uses {needed}")]
    TooFewMerges {
        vocab: String,
        found: usize,
        needed: usize,
    },
    #[error("the BPE merge list {vocab}, line {line}: expected two space-separated symbols, found {text:?}")]
    MalformedMerge {
        vocab: String,
        line: usize,
        text: String,
    },
    #[error("cannot build the BPE tokenizer from {vocab}: {message}")]
    Build { vocab: String, message: String },
    #[error("cannot BPE-encode the cleaned text {text:?}: {message}")]
    Encode { text: String, message: String },
    #[error("context length must be at least 1 (it holds the end-of-text token), got 0")]
    ZeroContextLength,
}

/// open_clip's `SimpleTokenizer`. Immutable after construction; share it with `Arc`.
pub struct ClipTokenizer {
    /// Split + byte-level mapping + BPE, with no special tokens of its own.
    bpe: Tokenizer,
    /// The same split pattern, used to find pieces that are exactly a special token.
    split: Regex,
}

impl ClipTokenizer {
    /// The tokenizer over the merge list compiled into the binary.
    pub fn new() -> Result<Self, TokenizerError> {
        Self::from_gz_bytes(EMBEDDED_BPE_GZ, EMBEDDED_BPE_NAME)
    }

    /// The tokenizer over a gzip'ed merge list in open_clip's format.
    pub fn from_bpe_gz(path: &Path) -> Result<Self, TokenizerError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| TokenizerError::ReadMerges {
            vocab: name.clone(),
            source,
        })?;
        Self::from_gz_bytes(&bytes, &name)
    }

    fn from_gz_bytes(gz: &[u8], name: &str) -> Result<Self, TokenizerError> {
        let merges = read_merges(gz, name)?;
        let vocab = build_vocab(&merges);
        let build_error = |message: String| TokenizerError::Build {
            vocab: name.to_owned(),
            message,
        };
        let model = BPE::builder()
            .vocab_and_merges(vocab.into_iter().collect::<Vocab>(), merges)
            .end_of_word_suffix(END_OF_WORD.to_owned())
            .build()
            .map_err(|e| build_error(e.to_string()))?;
        // `invert` + `Removed`: keep what the pattern matches, drop the rest (whitespace),
        // which is what Python's `re.findall` yields.
        let split = Split::new(
            SplitPattern::Regex(SPLIT_PATTERN.to_owned()),
            SplitDelimiterBehavior::Removed,
            true,
        )
        .map_err(|e| build_error(format!("split pattern: {e}")))?;
        // No prefix space and no GPT-2 regex: only the bytes -> unicode characters mapping,
        // which is the same table as CLIP's `bytes_to_unicode`.
        let byte_level = ByteLevel::new(false, false, false);
        let mut bpe = Tokenizer::new(model);
        bpe.with_pre_tokenizer(Some(Sequence::new(vec![split.into(), byte_level.into()])));
        let split =
            Regex::new(SPLIT_PATTERN).map_err(|e| build_error(format!("split pattern: {e}")))?;
        Ok(Self { bpe, split })
    }

    /// open_clip's `encode`: cleaned text to BPE ids, without start/end tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let cleaned = clean(text);
        let mut ids = Vec::new();
        let mut plain_start = 0;
        // open_clip maps a split piece that is exactly a special token's text to its id;
        // every such piece contains `<`.
        if cleaned.contains('<') {
            for piece in self.split.find_iter(&cleaned) {
                let id = match piece.as_str() {
                    START_OF_TEXT => SOT_TOKEN,
                    END_OF_TEXT => EOT_TOKEN,
                    _ => continue,
                };
                // Splitting at a piece boundary leaves the pieces on either side unchanged.
                self.encode_plain(&cleaned[plain_start..piece.start()], &mut ids)?;
                ids.push(id);
                plain_start = piece.end();
            }
        }
        self.encode_plain(&cleaned[plain_start..], &mut ids)?;
        Ok(ids)
    }

    fn encode_plain(&self, cleaned: &str, ids: &mut Vec<u32>) -> Result<(), TokenizerError> {
        if cleaned.is_empty() {
            return Ok(());
        }
        let encoding =
            self.bpe
                .encode_fast(cleaned, false)
                .map_err(|e| TokenizerError::Encode {
                    text: cleaned.chars().take(200).collect(),
                    message: e.to_string(),
                })?;
        ids.extend_from_slice(encoding.get_ids());
        Ok(())
    }

    /// One row of open_clip's `tokenize`: start token, ids, end token, zero padding to
    /// `context_length`; a longer row is cut to `context_length` with the end token forced
    /// into the last slot.
    pub fn tokenize(&self, text: &str, context_length: usize) -> Result<Vec<i64>, TokenizerError> {
        if context_length == 0 {
            return Err(TokenizerError::ZeroContextLength);
        }
        let ids = self.encode(text)?;
        let mut row = Vec::with_capacity(context_length.max(ids.len() + 2));
        row.push(i64::from(SOT_TOKEN));
        row.extend(ids.iter().map(|&id| i64::from(id)));
        row.push(i64::from(EOT_TOKEN));
        if row.len() > context_length {
            row.truncate(context_length);
            row[context_length - 1] = i64::from(EOT_TOKEN);
        }
        row.resize(context_length, 0);
        Ok(row)
    }

    /// `tokenize` for each text, rows concatenated: `texts.len() * context_length` ids.
    pub fn tokenize_batch(
        &self,
        texts: &[String],
        context_length: usize,
    ) -> Result<Vec<i64>, TokenizerError> {
        let mut out = Vec::with_capacity(texts.len() * context_length);
        for text in texts {
            out.extend(self.tokenize(text, context_length)?);
        }
        Ok(out)
    }
}

/// The merge pairs open_clip uses: lines 1 ..= MERGE_COUNT of the decompressed list.
fn read_merges(gz: &[u8], name: &str) -> Result<Vec<(String, String)>, TokenizerError> {
    let mut raw = Vec::new();
    GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .map_err(|source| TokenizerError::ReadMerges {
            vocab: name.to_owned(),
            source,
        })?;
    let text = String::from_utf8(raw).map_err(|source| TokenizerError::MergesNotUtf8 {
        vocab: name.to_owned(),
        source,
    })?;
    let lines: Vec<&str> = text.split('\n').skip(1).take(MERGE_COUNT).collect();
    if lines.len() < MERGE_COUNT {
        return Err(TokenizerError::TooFewMerges {
            vocab: name.to_owned(),
            found: lines.len(),
            needed: MERGE_COUNT,
        });
    }
    lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let mut symbols = line.split_whitespace();
            match (symbols.next(), symbols.next(), symbols.next()) {
                (Some(a), Some(b), None) => Ok((a.to_owned(), b.to_owned())),
                _ => Err(TokenizerError::MalformedMerge {
                    vocab: name.to_owned(),
                    line: index + 2, // 1-based, after the header line
                    text: (*line).to_owned(),
                }),
            }
        })
        .collect()
}

/// open_clip's `encoder`: byte symbols in `bytes_to_unicode()` order, the same with `</w>`,
/// each merge's concatenation, then the special tokens. A string listed twice keeps its
/// last id, as Python's `dict(zip(vocab, range(...)))` does.
fn build_vocab(merges: &[(String, String)]) -> HashMap<String, u32> {
    let byte_symbols: Vec<String> = byte_symbols_in_open_clip_order()
        .into_iter()
        .map(String::from)
        .collect();
    let word_final = byte_symbols.iter().map(|s| format!("{s}{END_OF_WORD}"));
    let merged = merges.iter().map(|(a, b)| format!("{a}{b}"));
    let specials = [START_OF_TEXT, END_OF_TEXT].map(String::from);
    let all = byte_symbols
        .clone()
        .into_iter()
        .chain(word_final)
        .chain(merged)
        .chain(specials);
    let mut vocab = HashMap::with_capacity(VOCAB_SIZE);
    for (id, symbol) in (0u32..).zip(all) {
        vocab.insert(symbol, id);
    }
    vocab
}

/// The values of CLIP's `bytes_to_unicode()` in its insertion order: the printable Latin-1
/// bytes map to themselves first (`!`..`~`, `¡`..`¬`, `®`..`ÿ`), then every other byte, in
/// byte order, to U+0100, U+0101, ...
fn byte_symbols_in_open_clip_order() -> Vec<char> {
    let is_printable = |b: u32| {
        (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
    };
    let printable = (0u32..256).filter(|&b| is_printable(b));
    let remapped = (0u32..256)
        .filter(|&b| !is_printable(b))
        .zip(0x100u32..)
        .map(|(_, c)| c);
    printable
        .chain(remapped)
        .filter_map(char::from_u32) // all values are below U+0144, never None
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_symbols_cover_all_bytes_once() {
        let symbols = byte_symbols_in_open_clip_order();
        assert_eq!(symbols.len(), 256);
        assert_eq!(symbols[0], '!');
        assert_eq!(symbols[188], '\u{100}'); // byte 0x00, the first non-printable one
        assert_eq!(symbols[255], '\u{143}');
    }

    #[test]
    fn vocab_has_open_clip_size_and_special_ids() {
        let merges = read_merges(EMBEDDED_BPE_GZ, EMBEDDED_BPE_NAME).expect("embedded merges");
        assert_eq!(merges.len(), MERGE_COUNT);
        let vocab = build_vocab(&merges);
        assert_eq!(vocab.len(), VOCAB_SIZE);
        assert_eq!(vocab[START_OF_TEXT], SOT_TOKEN);
        assert_eq!(vocab[END_OF_TEXT], EOT_TOKEN);
    }

    #[test]
    fn zero_context_length_is_an_error() {
        let tokenizer = ClipTokenizer::new().expect("embedded tokenizer");
        assert!(matches!(
            tokenizer.tokenize("a", 0),
            Err(TokenizerError::ZeroContextLength)
        ));
    }
}
