"""Reference token ids from open_clip's tokenizer for the Rust tokenizer parity test.

Writes OUT/tokens.json = {"prompts": [...], "tokens": [[77 ids], ...], "ids": [[...], ...],
"context_length": 77}: `tokens` is open_clip's tokenize() row per prompt (start, ids, end,
zero padding, cut at 77 with the end token forced last), `ids` is SimpleTokenizer.encode()
(no start/end, not cut).

The prompts are generated deterministically (fixed seed): the paper's random-word templates,
punctuation, numbers, English contractions, accented / CJK / emoji / Greek / RTL text, curly
quotes, ligatures, full- and half-width forms, HTML entities, odd whitespace and control
characters, upper case, special-token look-alikes, over-long texts and random character soup.

The Rust cleaner does not implement ftfy's mojibake repair (`fix_encoding`). Any generated
prompt on which that step changes ftfy's output is therefore left out (their number is
printed); the categories below are written so that this should not happen.
"""
import random
import string

import ftfy
import open_clip

from _common import out_dir, write_json

CONTEXT_LENGTH = 77
SEED = 20240611

NORMAL_WORDS = ["flawless", "perfect", "unblemished", "normal", "good", "intact"]
ANOMALY_WORDS = ["damaged", "broken", "defective", "anomalous", "cracked", "scratched"]
OBJECTS = ["bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal nut",
           "pill", "screw", "tile", "toothbrush", "transistor", "wood", "zipper", "object"]
ALNUM = string.ascii_lowercase + string.digits

UNICODE_SNIPPETS = [
    "café", "naïve", "Ångström", "Øresund", "straße", "ÉCOLE", "über", "façade", "jalapeño",
    "cafe\u0301", "A\u030a", "n\u0303o", "東京タワー", "漢字テスト", "한국어 텍스트", "中文",
    "Привет мир", "ΟΔΟΣ", "Σίσυφος", "مرحبا", "שלום", "नमस्ते", "ไทย", "😀", "👍🏽",
    "👨\u200d👩\u200d👧", "🇯🇵", "❤️", "★☆", "→", "∑x²", "½ ¼", "€100", "£5", "¥", "©®™",
    "\u201cquoted\u201d", "\u2018single\u2019", "it\u2019s", "\u201elow\u201c", "\u02bcx",
    "\ufb01ne", "\ufb02ower", "o\ufb03ce", "\ufb06op", "\u0133s", "\u01c6ungla",
    "ＦＵＬＬ ｗｉｄｔｈ", "１２３", "ﾃｽﾄ", "ｶﾀｶﾅ", "Ｕﾀｰﾝ", "a\u3000b",
    "\u212a", "ſ", "it'ſ", "\u0130stanbul", "İ", "\u1e9e", "ﬅ", "a\u0345b", "Ⅻ", "①",
    "x\u00a0y", "tab\u00adhy", "zero\u200bwidth", "rtl\u200fmark", "\ufffd",
]

HTML_SNIPPETS = [
    "&amp;", "&#39;", "&quot;", "&lt;", "&gt;", "&nbsp;", "&copy;", "&copy", "&eacute;",
    "&EACUTE;", "&Eacute;", "&#x2019;", "&#8217;", "&#X41;", "&amp;amp;", "&amp;amp;amp;lt;",
    "&notit;", "&notin;", "&#0;", "&#128;", "&#150;", "&#1;", "&#x1F600;", "&#xD800;",
    "&#99999999999;", "&#65", "&#x41", "&hellip;", "&mdash;", "&SZLIG;", "&szlig;", "&fjlig;",
    "&NewLine;", "&Tab;", "&bogus;", "&", "&;", "& amp;", "&AMP;", "&ampx", "&#;",
]

WHITESPACE_SNIPPETS = [" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \t ", "\u2028",
                       "\u2029", "\u3000", "\u00a0", "\u2003", "\x0b", "\x0c", "\x1c", "\x1f"]

CONTROL_SNIPPETS = ["\x07", "\x00", "\x7f", "\ufeff", "\u206a", "\ufffc", "\x1b[31m", "\x1b[0m"]

SPECIAL_LOOKALIKES = [
    "<start_of_text>", "<end_of_text>", "a <end_of_text> b", "x<start_of_text>y",
    "!!<start_of_text>", "<START_OF_TEXT> photo", "<ſtart_of_text>", "<start_of_text",
    "<|startoftext|>", "<end_of_text><end_of_text>", "a photo<end_of_text>of",
    "'<end_of_text>", "<b>&amp;amp;</b> bold", "a < b &amp; c", "line one\n<i>two</i> &lt;",
    "&lt;start_of_text&gt;", "&lt;end_of_text&gt; tail",
]


def random_word(rng, low=5, high=10):
    return "".join(rng.choice(ALNUM) for _ in range(rng.randint(low, high)))


def template_prompts(rng, count):
    prompts = []
    for i in range(count):
        w = [random_word(rng) for _ in range(5)]
        state = rng.choice(ANOMALY_WORDS if i % 2 else NORMAL_WORDS)
        obj = rng.choice(OBJECTS)
        prompts.append(f"{w[0]} a {w[1]} photo {w[2]} of {w[3]} a {state} {obj} {w[4]}")
    for _ in range(count // 4):
        w = [random_word(rng, 1, 15) for _ in range(5)]
        prompts.append(f"{w[0]} a {w[1]} photo {w[2]} of {w[3]} a damaged {w[4]}")
    return prompts


def punctuation_prompts(rng, count):
    prompts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(2, 8)):
            kind = rng.random()
            if kind < 0.4:
                parts.append(random_word(rng, 1, 8))
            elif kind < 0.7:
                parts.append("".join(rng.choice(string.punctuation) for _ in range(rng.randint(1, 4))))
            else:
                parts.append(rng.choice([str(rng.randint(0, 10**6)), f"{rng.random() * 100:.2f}",
                                         f"{rng.randint(1, 999)},{rng.randint(100, 999)}",
                                         f"{rng.randint(0, 100)}%", f"#{rng.randint(0, 99)}"]))
        glue = rng.choice(["", " ", " ", "-", "/"])
        prompts.append(glue.join(parts))
    return prompts


def contraction_prompts(rng, count):
    fixed = ["it's a photo", "don't", "they're here", "we've got", "I'm fine", "you'll see",
             "he'd go", "O'Neil's", "rock 'n' roll", "'s start", "''", "'", "IT'S", "DON'T",
             "can't won't shan't", "the dog's bone's", "'re'll've'm'd", "a's'b't", "x'sy"]
    endings = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'x", "'", "''s"]
    prompts = list(fixed)
    for _ in range(count - len(fixed)):
        prompts.append(" ".join(random_word(rng, 1, 7) + rng.choice(endings)
                                for _ in range(rng.randint(1, 5))))
    return prompts


def snippet_prompts(rng, snippets, count, words=(0, 3)):
    prompts = list(snippets)
    for _ in range(count - len(snippets)):
        parts = [rng.choice(snippets) for _ in range(rng.randint(1, 3))]
        parts += [random_word(rng, 2, 8) for _ in range(rng.randint(*words))]
        rng.shuffle(parts)
        prompts.append(rng.choice([" ", "", " a "]).join(parts))
    return prompts


def whitespace_prompts(rng, count):
    prompts = []
    for _ in range(count):
        words = [random_word(rng, 1, 8) for _ in range(rng.randint(1, 6))]
        text = rng.choice(WHITESPACE_SNIPPETS + [""])
        for word in words:
            text += word + "".join(rng.choice(WHITESPACE_SNIPPETS) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.3:
            cut = rng.randint(0, len(text))
            text = text[:cut] + rng.choice(CONTROL_SNIPPETS) + text[cut:]
        prompts.append(text)
    return prompts


def case_prompts(rng, count):
    prompts = []
    for _ in range(count):
        words = [random_word(rng, 2, 10) for _ in range(rng.randint(3, 8))]
        words = [w.upper() if rng.random() < 0.5 else w.capitalize() for w in words]
        prompts.append(" ".join(words) + rng.choice(["", ".", "!", " OBJECT", " Damaged"]))
    return prompts


def long_prompts(rng, count):
    prompts = []
    for i in range(count):
        n = rng.randint(40, 200)
        if i % 3 == 0:
            prompts.append(" ".join(random_word(rng) for _ in range(n)))
        elif i % 3 == 1:
            prompts.append(" ".join(rng.choice(OBJECTS + ANOMALY_WORDS + ["a", "photo", "of"])
                                    for _ in range(n)))
        else:
            pool = UNICODE_SNIPPETS + HTML_SNIPPETS + ["a", "photo", ",", "it's"]
            prompts.append(" ".join(rng.choice(pool) for _ in range(n)))
    return prompts


def character_soup(rng, count):
    pool = (list(ALNUM + string.punctuation) + list("".join(UNICODE_SNIPPETS))
            + WHITESPACE_SNIPPETS + HTML_SNIPPETS + ["'s", "'t", "'re", "<", "&", ";", "#"])
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def main():
    out = out_dir(__doc__.splitlines()[0])
    rng = random.Random(SEED)
    candidates = (
        ["a photo of a damaged object", "", " ", "a", "photo"]
        + template_prompts(rng, 480)
        + punctuation_prompts(rng, 100)
        + contraction_prompts(rng, 80)
        + snippet_prompts(rng, UNICODE_SNIPPETS, 180)
        + snippet_prompts(rng, HTML_SNIPPETS, 100)
        + snippet_prompts(rng, SPECIAL_LOOKALIKES, 40)
        + whitespace_prompts(rng, 100)
        + case_prompts(rng, 60)
        + long_prompts(rng, 60)
        + character_soup(rng, 150)
    )
    # Keep only prompts ftfy cleans identically without its mojibake repair (not ported).
    prompts = [p for p in candidates if ftfy.fix_text(p) == ftfy.fix_text(p, fix_encoding=False)]
    dropped = len(candidates) - len(prompts)

    tokenizer = open_clip.get_tokenizer("ViT-B-16-plus-240")
    assert isinstance(tokenizer, open_clip.tokenizer.SimpleTokenizer), type(tokenizer)
    tokens = tokenizer(prompts, context_length=CONTEXT_LENGTH).tolist()
    ids = [tokenizer.encode(p) for p in prompts]
    over_long = sum(len(i) + 2 > CONTEXT_LENGTH for i in ids)
    write_json(f"{out}/tokens.json", {"context_length": CONTEXT_LENGTH, "prompts": prompts,
                                      "tokens": tokens, "ids": ids})
    print(f"tokens: {len(prompts)} prompts ({over_long} over-long), "
          f"{dropped} dropped as needing ftfy mojibake repair")


if __name__ == "__main__":
    main()
