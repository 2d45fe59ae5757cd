//! Synthetic text: words, domains, URLs, titles and search phrases.
//!
//! Words are built from consonant-vowel syllables (Latin or Cyrillic). Every syllable is exactly
//! two characters, so a word's syllables can be read back unambiguously, and no generated text
//! ever holds two vowels in a row: the substring `google` (or `Google`) cannot appear by
//! chance. The hits spec needs that, because `google` marks a designed set of rows.

use super::dist::{mix64, Rng};

const LATIN_CONSONANTS: [&str; 17] = [
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
];
const LATIN_VOWELS: [&str; 5] = ["a", "e", "i", "o", "u"];
const CYRILLIC_CONSONANTS: [&str; 19] = [
    "б", "в", "г", "д", "ж", "з", "к", "л", "м", "н", "п", "р", "с", "т", "ф", "х", "ц", "ч", "ш",
];
const CYRILLIC_VOWELS: [&str; 9] = ["а", "е", "и", "о", "у", "ы", "я", "ю", "э"];

/// Number of distinct Latin syllables.
pub const LATIN_SYLLABLES: u64 = 17 * 5;
/// Number of distinct Cyrillic syllables.
pub const CYRILLIC_SYLLABLES: u64 = 19 * 9;

/// Appends syllable `i` (taken modulo the syllable count) of one alphabet.
#[inline]
pub fn push_syllable(out: &mut String, i: u64, cyrillic: bool) {
    if cyrillic {
        let i = i % CYRILLIC_SYLLABLES;
        out.push_str(CYRILLIC_CONSONANTS[(i / 9) as usize]);
        out.push_str(CYRILLIC_VOWELS[(i % 9) as usize]);
    } else {
        let i = i % LATIN_SYLLABLES;
        out.push_str(LATIN_CONSONANTS[(i / 5) as usize]);
        out.push_str(LATIN_VOWELS[(i % 5) as usize]);
    }
}

/// Appends a random word of `syllables` syllables.
#[inline]
pub fn push_word(out: &mut String, rng: &mut Rng, syllables: u32, cyrillic: bool) {
    let mut bits = rng.next_u64();
    for _ in 0..syllables {
        push_syllable(out, bits & 0xFF, cyrillic);
        bits >>= 8;
    }
}

/// Appends `n` decimal digits.
#[inline]
pub fn push_digits(out: &mut String, rng: &mut Rng, n: u32) {
    let mut bits = rng.next_u64();
    for _ in 0..n {
        out.push(char::from(b'0' + (bits % 10) as u8));
        bits /= 10;
    }
}

/// A synthetic domain for a site id: one or two Latin words and a top-level domain.
pub fn domain(seed: u64, site: u64) -> String {
    let mut rng = Rng::for_index(seed, 0xD0_0A11, site);
    let mut out = String::with_capacity(24);
    if rng.chance(0.2) {
        out.push_str("www.");
    }
    let syllables = 2 + rng.below(2) as u32;
    push_word(&mut out, &mut rng, syllables, false);
    if rng.chance(0.3) {
        out.push('-');
        push_word(&mut out, &mut rng, 2, false);
    }
    out.push_str(match rng.below(10) {
        0..=6 => ".ru",
        7 => ".com",
        8 => ".net",
        _ => ".info",
    });
    out
}

/// Appends a URL of about `target_bytes` bytes: scheme, host, `/`, 1-12 path tokens (Latin
/// words, digits, `%2F`-style escapes, 30% Cyrillic words), then a query string if the target
/// is longer than the tokens.
pub fn push_url(out: &mut String, rng: &mut Rng, host: &str, target_bytes: usize) {
    let start = out.len();
    out.push_str(if rng.chance(0.03) {
        "https://"
    } else {
        "http://"
    });
    out.push_str(host);
    out.push('/');
    let tokens = 1 + rng.below(12);
    for t in 0..tokens {
        if out.len() - start >= target_bytes {
            break;
        }
        if t > 0 {
            out.push(if rng.chance(0.7) { '/' } else { '-' });
        }
        match rng.below(10) {
            0..=2 => {
                let syl = 1 + rng.below(3) as u32;
                push_word(out, rng, syl, true)
            }
            3 | 4 => {
                let n = 1 + rng.below(7) as u32;
                push_digits(out, rng, n)
            }
            5 => {
                out.push_str("%2F");
                push_word(out, rng, 2, false);
            }
            _ => {
                let syl = 1 + rng.below(4) as u32;
                push_word(out, rng, syl, false)
            }
        }
    }
    if out.len() - start < target_bytes {
        out.push('?');
        let mut first = true;
        while out.len() - start < target_bytes {
            if !first {
                out.push('&');
            }
            first = false;
            push_word(out, rng, 2, false);
            out.push('=');
            if rng.chance(0.5) {
                let n = 1 + rng.below(12) as u32;
                push_digits(out, rng, n);
            } else {
                let syl = 1 + rng.below(4) as u32;
                push_word(out, rng, syl, false);
            }
        }
    }
}

/// Appends a page title of about `target_bytes` bytes, mostly Cyrillic words.
pub fn push_title(out: &mut String, rng: &mut Rng, target_bytes: usize) {
    let start = out.len();
    let cyrillic_share = 0.85;
    let mut first = true;
    while out.len() - start < target_bytes {
        if !first {
            out.push_str(if rng.chance(0.08) { " - " } else { " " });
        }
        first = false;
        let cyrillic = rng.chance(cyrillic_share);
        let syl = 1 + rng.below(4) as u32;
        push_word(out, rng, syl, cyrillic);
    }
}

/// The titles that carry a capital `Google` (Q23).
const GOOGLE_TITLE_PARTS: [&str; 6] = [
    " - Google Chrome",
    " видео Google",
    " Google Карты",
    " - Поиск в Google",
    " Google Play",
    " Google Переводчик",
];

/// Appends a title containing `Google`.
pub fn push_google_title(out: &mut String, rng: &mut Rng) {
    let syl = 2 + rng.below(3) as u32;
    push_word(out, rng, syl, true);
    out.push(' ');
    push_word(out, rng, 3, true);
    out.push_str(GOOGLE_TITLE_PARTS[rng.below(GOOGLE_TITLE_PARTS.len() as u64) as usize]);
}

/// Appends a URL containing lowercase `google` as a token; with `dot_google`, the host is a
/// Google host (`.google.`), otherwise `google` sits in the path or query of the site's host.
pub fn push_google_url(out: &mut String, rng: &mut Rng, host: &str, dot_google: bool) {
    if dot_google {
        out.push_str(match rng.below(3) {
            0 => "http://www.google.ru/url?sa=t&url=",
            1 => "http://images.google.com/imgres?q=",
            _ => "https://www.google.com.ua/search?q=",
        });
        push_word(out, rng, 3, false);
        out.push('&');
        push_digits(out, rng, 6);
        return;
    }
    out.push_str("http://");
    out.push_str(host);
    out.push('/');
    match rng.below(4) {
        0 => {
            push_word(out, rng, 2, false);
            out.push_str("/?utm_source=googleTBR%26ad");
        }
        1 => {
            out.push_str("googlead/");
            push_digits(out, rng, 5);
        }
        2 => {
            push_word(out, rng, 3, false);
            out.push_str("?from=google.ru");
        }
        _ => {
            push_word(out, rng, 2, true);
            out.push_str("/google/");
            push_word(out, rng, 2, false);
        }
    }
}

/// The 20 search phrases of rows with a `google` URL (Q22); none is a generated phrase (their
/// words are not consonant-vowel chains).
pub const GOOGLE_PHRASES: [&str; 20] = [
    "galaxy table",
    "гугл переводчик",
    "samsung galaxy s4",
    "скачать chrome",
    "android market",
    "карты гугл",
    "youtube музыка",
    "переводчик онлайн",
    "gmail вход",
    "iphone 5s",
    "игры для android",
    "почта gmail",
    "maps street view",
    "chrome browser",
    "google earth 3d",
    "nexus 7",
    "ютуб видео",
    "хром скачать бесплатно",
    "translate english",
    "drive облако",
];

/// Appends the search phrase with id `id`.
///
/// The text is injective in `id`: the id is written in bijective base `S^2` (S = syllables of
/// the phrase's alphabet) as two-syllable "id words", then 0-5 three-syllable filler words
/// follow, so two ids never share a text. 80% of ids are Cyrillic; a few phrases start with a
/// space or `!` so that sorting by phrase is not trivial (Q26).
pub fn push_phrase(out: &mut String, id: u64) {
    let h = mix64(id ^ 0x5EA2_C4F1_A5E5);
    let cyrillic = !h.is_multiple_of(5);
    match (h >> 8) % 400 {
        0 => out.push(' '),
        1 => out.push('!'),
        _ => {}
    }
    let syllables = if cyrillic {
        CYRILLIC_SYLLABLES
    } else {
        LATIN_SYLLABLES
    };
    let base = syllables * syllables;
    // Bijective numeration: every id >= 0 maps to a unique non-empty digit string.
    let mut n = id + 1;
    let mut first = true;
    while n > 0 {
        let digit = (n - 1) % base;
        n = (n - 1) / base;
        if !first {
            out.push(' ');
        }
        first = false;
        push_syllable(out, digit / syllables, cyrillic);
        push_syllable(out, digit % syllables, cyrillic);
    }
    let mut rng = Rng::for_index(0x9A7A5E, 0, h);
    let fillers = match rng.below(10) {
        0..=2 => 0,
        3..=5 => 1,
        6 | 7 => 2,
        8 => 3,
        _ => 4 + rng.below(2),
    };
    for _ in 0..fillers {
        out.push(' ');
        push_word(out, &mut rng, 3, cyrillic);
    }
}

/// The fixed 64-bit string hash used for URLHash and RefererHash (a multiply-xorshift hash over
/// 8-byte words; not xxHash, but fixed and well mixed), reinterpreted as signed.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> i64 {
    let mut h: u64 =
        0x243F_6A88_85A3_08D3 ^ (bytes.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 32;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    }
    mix64(h) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn phrases_are_distinct_per_id() {
        let mut seen = HashSet::new();
        let mut s = String::new();
        for id in (0..60_000u64).chain(50_000_000..50_020_000) {
            s.clear();
            push_phrase(&mut s, id);
            assert!(seen.insert(s.clone()), "duplicate phrase for id {id}: {s}");
        }
    }

    #[test]
    fn generated_text_never_contains_google() {
        let mut rng = Rng::new(11);
        let mut s = String::new();
        for i in 0..20_000u64 {
            s.clear();
            let host = domain(1, i);
            push_url(&mut s, &mut rng, &host, 40 + (i as usize % 300));
            push_title(&mut s, &mut rng, 60);
            push_phrase(&mut s, i * 7919);
            assert!(!s.to_ascii_lowercase().contains("google"), "{s}");
        }
    }
}
