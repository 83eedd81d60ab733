//! Text cleaning in front of the CLIP tokenizer: a re-implementation of open_clip's
//! `_clean_lower`, i.e. `whitespace_clean(basic_clean(text)).lower()` where
//! `basic_clean` = `ftfy.fix_text` (ftfy 6.3.1, default config), then `html.unescape`
//! twice, then `strip`.
//!
//! What of `ftfy.fix_text` is reproduced, in ftfy's order, repeated per segment until the
//! text stops changing (as ftfy does):
//! - segmentation: the text is fixed line by line (each segment ends after a `\n`, and is at
//!   most 1,000,000 characters); once a segment contains `<`, ftfy's own HTML unescaping is
//!   switched off for that segment and every later one (ftfy treats it as real HTML);
//! - `unescape_html`: `&name;` for every HTML5 entity ending in `;`, upper-cased variants of
//!   the lower-case ones (`&EACUTE;` -> `É`), and `&#...;` numeric references;
//! - `fix_c1_controls`: U+0080..U+009F read as Windows-1252 (unassigned bytes kept);
//! - `fix_latin_ligatures`, `fix_character_width` (full-/half-width forms, U+3000 -> space),
//!   `uncurl_quotes`, `fix_line_breaks`, `remove_terminal_escapes`, `remove_control_chars`;
//! - NFC normalization.
//!
//! What is NOT reproduced:
//! - `fix_encoding`, ftfy's mojibake detection and repair (the `badness` heuristic,
//!   re-decoding text as Latin-1 / Windows-1252 / MacRoman / CP437 ... read as UTF-8,
//!   `restore_byte_a0`, `replace_lossy_sequences`, `decode_inconsistent_utf8`, and the
//!   whole-string Latin-1 -> Windows-1252 reinterpretation). Text such as `Ã©` (UTF-8 read as
//!   Latin-1) is therefore left as it is, where Python would turn it into `é`. Prompts typed
//!   as proper Unicode never reach that code path in ftfy, so their results are identical.
//! - `fix_surrogates`: a Rust `&str` cannot hold lone surrogates, so it has nothing to do.
//! - Unicode version skew: NFC, lower-casing and the `\p{L}`/`\p{N}` classes use the tables of
//!   the `unicode-normalization` crate and Rust's std/regex, Python 3.11 uses Unicode 14.0;
//!   code points assigned after that may clean or split differently.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::{Captures, Regex};
use unicode_normalization::UnicodeNormalization;

/// HTML5 named character references: `name<TAB>hex code points`, see
/// `assets/LICENSE-bpe_simple_vocab.md` for its origin.
const HTML5_ENTITIES_TSV: &str = include_str!("../assets/html5_entities.tsv");

/// ftfy's `max_decode_length`: the longest segment it fixes in one piece.
const MAX_SEGMENT_CHARS: usize = 1_000_000;

/// open_clip's `_clean_lower`: ftfy-style fixes, HTML unescaping (twice), whitespace collapsed
/// to single spaces and trimmed, then lower-cased.
pub fn clean(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = html_unescape(&html_unescape(&fixed));
    collapse_whitespace(&unescaped).to_lowercase()
}

/// `" ".join(text.split())` in Python: split on `str.isspace` characters, which are Unicode
/// White_Space plus the ASCII separators U+001C..U+001F.
fn collapse_whitespace(text: &str) -> String {
    text.split(is_python_space)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `ftfy.fix_text` with the default configuration, minus the parts listed in the module docs.
fn fix_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut unescape = true;
    for segment in segments(text) {
        // ftfy switches its unescaping off for good once it sees markup.
        if segment.contains('<') {
            unescape = false;
        }
        out.push_str(&fix_segment(segment, unescape));
    }
    out
}

/// Pieces that end right after a `\n`, each at most `MAX_SEGMENT_CHARS` characters long.
fn segments(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len();
        for (count, (at, c)) in rest.char_indices().enumerate() {
            if count == MAX_SEGMENT_CHARS {
                end = at;
                break;
            }
            if c == '\n' {
                end = at + 1;
                break;
            }
        }
        let (head, tail) = rest.split_at(end);
        rest = tail;
        Some(head)
    })
}

/// ftfy's `fix_and_explain` loop: apply every fixer in order until nothing changes.
fn fix_segment(segment: &str, unescape: bool) -> String {
    let mut text = segment.to_owned();
    loop {
        let before = text.clone();
        if unescape {
            text = ftfy_unescape_html(&text);
        }
        text = map_chars(&text, fix_c1_control);
        text = map_chars(&text, split_latin_ligature);
        text = map_chars(&text, standard_width);
        text = map_chars(&text, uncurl_quote);
        text = fix_line_breaks(&text);
        text = terminal_escape_regex().replace_all(&text, "").into_owned();
        text.retain(|c| !is_removed_control_char(c));
        text = text.nfc().collect();
        if text == before {
            return text;
        }
    }
}

/// Applies a one-character-to-string rewrite to every character.
fn map_chars(text: &str, rewrite: impl Fn(char, &mut String)) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        rewrite(c, &mut out);
    }
    out
}

/// Windows-1252 for bytes 0x80..0x9F; the five unassigned bytes map to the C1 control of the
/// same number ("sloppy" Windows-1252, as ftfy and the HTML spec use it).
const CP1252_HIGH: [char; 32] = [
    '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}', '\u{8f}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}', '\u{178}',
];

fn fix_c1_control(c: char, out: &mut String) {
    match c {
        '\u{80}'..='\u{9f}' => out.push(CP1252_HIGH[c as usize - 0x80]),
        _ => out.push(c),
    }
}

/// ftfy's LIGATURES table: Latin typographic ligatures and legacy digraphs.
fn split_latin_ligature(c: char, out: &mut String) {
    let replacement = match c {
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'ŉ' => "ʼn",
        'Ǳ' => "DZ",
        'ǲ' => "Dz",
        'ǳ' => "dz",
        'Ǆ' => "DŽ",
        'ǅ' => "Dž",
        'ǆ' => "dž",
        'Ǉ' => "LJ",
        'ǈ' => "Lj",
        'ǉ' => "lj",
        'Ǌ' => "NJ",
        'ǋ' => "Nj",
        'ǌ' => "nj",
        'ﬀ' => "ff",
        'ﬁ' => "fi",
        'ﬂ' => "fl",
        'ﬃ' => "ffi",
        'ﬄ' => "ffl",
        'ﬅ' => "ſt",
        'ﬆ' => "st",
        _ => {
            out.push(c);
            return;
        }
    };
    out.push_str(replacement);
}

/// ftfy's WIDTH_MAP: U+3000 becomes a space; every character of the Halfwidth and Fullwidth
/// Forms block (U+FF01..U+FFEF) becomes its NFKC form.
fn standard_width(c: char, out: &mut String) {
    match c {
        '\u{3000}' => out.push(' '),
        '\u{ff01}'..='\u{ffef}' => out.extend(std::iter::once(c).nfkc()),
        _ => out.push(c),
    }
}

fn uncurl_quote(c: char, out: &mut String) {
    match c {
        '\u{2bc}' | '\u{2018}'..='\u{201b}' => out.push('\''),
        '\u{201c}'..='\u{201f}' => out.push('"'),
        _ => out.push(c),
    }
}

/// CRLF, CR, LINE SEPARATOR, PARAGRAPH SEPARATOR and NEXT LINE all become `\n`.
fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

fn terminal_escape_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\x1b\[((?:\d|;)*)([a-zA-Z])").expect("valid ANSI escape regex"))
}

/// ftfy's CONTROL_CHARS: ASCII controls other than the whitespace ones, deprecated Arabic
/// format controls, interlinear annotation marks, the object replacement character and BOM.
fn is_removed_control_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}' | '\u{e}'..='\u{1f}' | '\u{7f}'
        | '\u{206a}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffc}')
}

/// HTML5 entity names (without the leading `&`, with the `;` where the name has one) to the
/// text they stand for.
fn html5_entities() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| parse_entity_table(HTML5_ENTITIES_TSV))
}

/// Parses the embedded table. It is a compile-time constant checked by a unit test, so a
/// malformed line is a build defect; such a line is skipped rather than panicking.
fn parse_entity_table(tsv: &str) -> HashMap<String, String> {
    tsv.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (name, code_points) = line.split_once('\t')?;
            let value = code_points
                .split(' ')
                .map(|hex| u32::from_str_radix(hex, 16).ok().and_then(char::from_u32))
                .collect::<Option<String>>()?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// ftfy's entity table: the `;`-terminated HTML5 names, plus all-caps spellings of the
/// lower-case names (upper-cased value) where the all-caps spelling means nothing to
/// `html.unescape`.
fn ftfy_entities() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::new();
        for (name, value) in html5_entities()
            .iter()
            .filter(|(name, _)| name.ends_with(';'))
        {
            table.insert(name.clone(), value.clone());
            if *name == name.to_lowercase() {
                let upper = name.to_uppercase();
                let reference = format!("&{upper}");
                if html_unescape(&reference) == reference {
                    table.insert(upper, value.to_uppercase());
                }
            }
        }
        table
    })
}

/// ftfy's `unescape_html`: only unambiguous, `;`-terminated references are decoded.
fn ftfy_unescape_html(text: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"&#?[0-9A-Za-z]{1,24};").expect("valid entity regex"));
    re.replace_all(text, |caps: &Captures| {
        let reference = &caps[0];
        if let Some(value) = ftfy_entities().get(&reference[1..]) {
            return value.clone();
        }
        if reference.starts_with("&#") {
            // A numeric reference html.unescape only partly consumed stays as it was.
            let decoded = html_unescape(reference);
            if !decoded.contains(';') {
                return decoded;
            }
        }
        reference.to_owned()
    })
    .into_owned()
}

/// Python's `html.unescape` (3.11): HTML5 named references (longest known prefix when the
/// name is unknown, as the spec's parser does) and numeric references with the spec's
/// replacements for invalid code points.
pub(crate) fn html_unescape(text: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    if !text.contains('&') {
        return text.to_owned();
    }
    let re = RE.get_or_init(|| {
        Regex::new(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\x0c <&#;]{1,32};?)")
            .expect("valid character reference regex")
    });
    re.replace_all(text, |caps: &Captures| {
        let body = &caps[1];
        match body.strip_prefix('#') {
            Some(number) => decode_numeric_reference(number),
            None => decode_named_reference(body),
        }
    })
    .into_owned()
}

/// `number` is `123`, `123;`, `x7B` or `x7B;`.
fn decode_numeric_reference(number: &str) -> String {
    let number = number.trim_end_matches(';');
    let (digits, radix) = match number.strip_prefix(['x', 'X']) {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    // Python parses arbitrarily long numbers; anything past u32 is "too large" all the same.
    let code = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
    match code {
        0x00 => "\u{fffd}".to_owned(),
        0x0d => "\r".to_owned(),
        0x80..=0x9f => CP1252_HIGH[code as usize - 0x80].to_string(),
        0xd800..=0xdfff | 0x11_0000.. => "\u{fffd}".to_owned(),
        _ if is_invalid_code_point(code) => String::new(),
        _ => char::from_u32(code)
            .map(String::from)
            .unwrap_or_else(|| "\u{fffd}".to_owned()),
    }
}

/// Python's `html._invalid_codepoints` (the 0x80..0x9F part is handled before this).
fn is_invalid_code_point(code: u32) -> bool {
    matches!(code, 0x01..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f..=0x9f | 0xfdd0..=0xfdef)
        || (code & 0xfffe) == 0xfffe
}

fn decode_named_reference(name: &str) -> String {
    let entities = html5_entities();
    if let Some(value) = entities.get(name) {
        return value.clone();
    }
    // Longest prefix of at least two characters that is a known name; the rest stays.
    let boundaries: Vec<usize> = name.char_indices().map(|(at, _)| at).skip(2).collect();
    for &cut in boundaries.iter().rev() {
        if let Some(value) = entities.get(&name[..cut]) {
            return format!("{value}{}", &name[cut..]);
        }
    }
    format!("&{name}")
}

#[cfg(test)]
mod tests {
    //! Expected strings were produced by open_clip's `_clean_lower` (ftfy 6.3.1, Python 3.11).
    use super::*;

    #[test]
    fn embedded_entity_table_is_complete() {
        // Python 3.11: len(html.entities.html5) == 2231.
        assert_eq!(html5_entities().len(), 2231);
        assert_eq!(html5_entities()["amp"], "&");
        assert_eq!(html5_entities()["NewLine;"], "\n");
        assert_eq!(html5_entities()["fjlig;"], "fj");
    }

    #[test]
    fn collapses_whitespace_and_lowercases() {
        assert_eq!(
            clean("  A\tPhoto\n\nOF  a\u{3000}Dog \u{1c} "),
            "a photo of a dog"
        );
        assert_eq!(clean(""), "");
        assert_eq!(clean(" \n\t "), "");
    }

    #[test]
    fn straightens_quotes_and_splits_ligatures() {
        assert_eq!(
            clean("\u{201c}It\u{2019}s\u{201d} a \u{fb01}ne \u{fb02}ower"),
            "\"it's\" a fine flower"
        );
    }

    #[test]
    fn normalizes_width_and_composes_accents() {
        assert_eq!(clean("ＬＯＵＤ　ＮＯＩＳＥＳ"), "loud noises");
        assert_eq!(clean("ﾃｽﾄ"), "テスト");
        assert_eq!(clean("cafe\u{301}"), "caf\u{e9}");
    }

    #[test]
    fn unescapes_entities_like_python() {
        assert_eq!(
            clean("Tom &amp; Jerry&#39;s &#x41;&lt;"),
            "tom & jerry's a<"
        );
        // ftfy's loop plus html.unescape twice peel any number of &amp; layers.
        assert_eq!(clean("&amp;amp;amp;amp;lt;"), "<");
        // html.unescape decodes legacy names without `;` and the longest known prefix.
        assert_eq!(clean("&copy 2024 &notit;"), "© 2024 ¬it;");
        // Numeric references to C1 bytes are read as Windows-1252, invalid ones vanish.
        assert_eq!(clean("&#150;&#1;x&#0;"), "\u{2013}x\u{fffd}");
        // ftfy's all-caps entities.
        assert_eq!(clean("P&EACUTE;REZ"), "pérez");
    }

    #[test]
    fn markup_switches_off_ftfy_unescaping_only() {
        // With a `<` ftfy keeps entities, but the two html.unescape passes still decode
        // exactly two levels: `&amp;amp;amp;` -> `&amp;`.
        assert_eq!(clean("<b> &amp;amp;amp;"), "<b> &amp;");
        assert_eq!(clean("&amp;amp;amp;"), "&");
    }

    #[test]
    fn removes_controls_and_fixes_line_breaks() {
        assert_eq!(clean("a\u{7}b\u{feff}c\u{1b}[31mred\u{1b}[0m"), "abcred");
        assert_eq!(
            clean("one\r\ntwo\rthree\u{2028}four\u{85}"),
            "one two three four…"
        );
    }
}
