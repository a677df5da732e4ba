//! Plate formats kept as data (`plate_formats.toml`, compiled in), and the
//! normalisation that fits OCR output to them.
//!
//! Why data: every country (and every US state) has its own layout, and the
//! deployment knows which countries its cameras see. A table lets an operator
//! add a format without code, and the same table tells the normaliser where a
//! `0` must really be an `O`. Corrections are position-wise and only where the
//! pattern demands them, so a free-form (generic) plate is never "corrected".

use crate::error::VehiclesError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The table shipped with the crate.
pub const DEFAULT_FORMATS: &str = include_str!("../plate_formats.toml");

/// Cost of replacing one character through the confusion table: a base plus
/// `SUBST_CONF` × the OCR's confidence in the character, so confident reads
/// are harder to overrule than doubtful ones.
const SUBST_BASE: f32 = 0.5;
const SUBST_CONF: f32 = 1.0;
/// Cost of taking the recogniser's own second choice where the layout rules
/// out its first: a base plus how much more probable the first choice was.
/// A close runner-up (0.55 vs 0.40) costs 0.35, less than any table
/// substitution; a faint one (0.97 vs 0.02) costs more than the table would.
const ALT_BASE: f32 = 0.2;
const ALT_GAP: f32 = 1.5;
/// Cost of dropping one character at either end of the read (a screw, a
/// frame edge or a state-name fragment read as a character).
const TRIM_BASE: f32 = 1.0;
/// Cost of dropping one character inside the read: a base plus
/// `INNER_DROP_CONF` × its confidence. A spurious interior character (a split
/// glyph, a bolt) is usually a doubtful one, so a doubtful drop is cheaper
/// than trimming an end, and a confident one dearer; at most one is dropped.
const INNER_DROP_BASE: f32 = 0.3;
const INNER_DROP_CONF: f32 = 1.5;
/// Cost of dropping the one interior character that stands where the
/// pattern places an emblem (`*`: Missouri's bluebird between `AB1` and
/// `C2D`). The emblem is printed there, so the recogniser reads it, often
/// confidently, as `O` or `I`; a character at that place is expected, not
/// evidence against the fit. Measured on the US photos: 0 → +3 (every
/// Missouri plate read with its emblem), 0.15 → +1, 0.3 → +0.
const EMBLEM_DROP: f32 = 0.0;
/// Cost of one character a country's fold changes (US `O` → `0`). Folding
/// is free within the country, but it is a change: where two countries'
/// formats fit a read equally well (Brazil's `LLL DDDD` and the US series
/// of the same shape, when no camera country narrows the table), the fit
/// that reports the read as it is wins, instead of whichever format the
/// table lists first.
const FOLD_COST: f32 = 0.01;
/// Extra cost of a generic (catch-all) format: a specific format that needs
/// one confident correction (0.5 + ~0.95) still beats it, two do not. A
/// format may set its own (`generic_penalty`), e.g. where free-form plates
/// are everyday.
const GENERIC_PENALTY: f32 = 1.6;

/// One character class of a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharClass {
    /// `D`: 0-9.
    Digit,
    /// `L`: A-Z.
    Letter,
    /// `A`: either.
    Any,
}

impl CharClass {
    fn accepts(self, c: char) -> bool {
        match self {
            CharClass::Digit => c.is_ascii_digit(),
            CharClass::Letter => c.is_ascii_uppercase(),
            CharClass::Any => c.is_ascii_digit() || c.is_ascii_uppercase(),
        }
    }
}

/// A class with its repeat range, e.g. `D{3,4}`; or, with `emblem` set (and
/// no characters), the place of an emblem between two character groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Token {
    class: CharClass,
    min: usize,
    max: usize,
    emblem: bool,
}

/// One concrete class sequence of a pattern, with the places of its emblems
/// (`emblems` holds `i` for an emblem standing before `classes[i]`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Layout {
    classes: Vec<CharClass>,
    emblems: Vec<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatFile {
    confusions: Confusions,
    /// Per country: characters its plates never carry, mapped to the glyph
    /// they cannot be told from (US: letter O is printed as, and registered
    /// the same as, digit 0).
    #[serde(default)]
    fold: HashMap<String, HashMap<String, String>>,
    #[serde(rename = "format")]
    formats: Vec<FormatSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Confusions {
    #[serde(default)]
    to_digit: HashMap<String, String>,
    #[serde(default)]
    to_letter: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatSpec {
    name: String,
    country: String,
    #[serde(default)]
    description: String,
    pattern: String,
    #[serde(default)]
    generic: bool,
    #[serde(default)]
    generic_penalty: Option<f32>,
    /// Extra cost of a specific format: a rare layout (one state's series)
    /// that must not outbid a commoner one's cheap correction.
    #[serde(default)]
    penalty: Option<f32>,
    #[serde(default)]
    exact: bool,
    #[serde(default)]
    reader: Reader,
}

/// Which recogniser reads the plates of a format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reader {
    /// PP-OCRv4, the general recogniser (Latin letters and digits).
    #[default]
    Ppocr,
    /// LPRNet, trained on Chinese plates: reads their province character,
    /// which stands in front of the text the pattern describes.
    Lprnet,
}

/// One plate format.
#[derive(Clone, Debug)]
pub struct PlateFormat {
    pub name: String,
    /// Country or region code the format belongs to (`kz`, `us`, `eu`, `br`…).
    pub country: String,
    pub description: String,
    pub pattern: String,
    pub generic: bool,
    /// Extra cost of fitting this format (`generic_penalty` of a catch-all,
    /// `penalty` of a specific one).
    pub penalty: f32,
    /// Fits only reads that already match: no character is replaced. For a
    /// layout one confusion away from a commoner one of the same region
    /// (Poland's `LL DDDDD` against Slovakia's `LL DDD LL` read with `A`↔`4`,
    /// `O`↔`0`), where a correction is more likely a misread of the other.
    pub exact: bool,
    /// The recogniser whose reads this format fits (`reader = "lprnet"`).
    pub reader: Reader,
    /// Every concrete class sequence the pattern allows (expanded repeats).
    layouts: Vec<Layout>,
}

/// Result of fitting a read to the formats.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Normalized {
    /// The corrected text (A-Z, 0-9 only).
    pub text: String,
    /// Per-character confidence of `text` (a corrected character keeps the
    /// confidence of the character it replaced, halved).
    pub char_conf: Vec<f32>,
    /// Name of the matched format, `None` when none fits.
    pub format: Option<String>,
    /// Characters changed through the confusion table.
    pub corrections: usize,
    /// Characters of the read left out of the fit (at the ends, or one inside).
    pub trimmed: usize,
}

/// The format table plus confusion tables.
#[derive(Clone, Debug)]
pub struct PlateFormats {
    formats: Vec<PlateFormat>,
    to_digit: HashMap<char, char>,
    to_letter: HashMap<char, char>,
    fold: HashMap<String, HashMap<char, char>>,
}

fn one_char(s: &str, what: &str) -> Result<char, VehiclesError> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c.to_ascii_uppercase()),
        _ => Err(VehiclesError::Formats(format!(
            "confusion entry `{s}` ({what}) must be a single character"
        ))),
    }
}

/// Parses `LL D{3,4} L{1,2}` into tokens.
fn parse_pattern(p: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let class = match c {
            ' ' | '-' | '.' => continue,
            '*' => {
                out.push(Token {
                    class: CharClass::Any,
                    min: 0,
                    max: 0,
                    emblem: true,
                });
                continue;
            }
            'D' => CharClass::Digit,
            'L' => CharClass::Letter,
            'A' => CharClass::Any,
            other => return Err(format!("unknown class `{other}` (use D, L or A)")),
        };
        let (mut min, mut max) = (1, 1);
        if chars.get(i) == Some(&'{') {
            let end = chars[i..]
                .iter()
                .position(|&c| c == '}')
                .ok_or("unclosed `{`")?
                + i;
            let inner: String = chars[i + 1..end].iter().collect();
            let parse = |s: &str| {
                s.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("bad repeat `{{{inner}}}`"))
            };
            match inner.split_once(',') {
                Some((a, b)) => {
                    min = parse(a)?;
                    max = parse(b)?;
                }
                None => {
                    min = parse(&inner)?;
                    max = min;
                }
            }
            if min > max || max == 0 || max > 16 {
                return Err(format!("bad repeat `{{{inner}}}`"));
            }
            i = end + 1;
        }
        out.push(Token {
            class,
            min,
            max,
            emblem: false,
        });
    }
    if out.iter().all(|t| t.emblem) {
        return Err("empty pattern".into());
    }
    Ok(out)
}

/// All class sequences a token list allows (patterns are short, so this is a
/// handful of layouts), each with the places of its emblems.
fn expand(tokens: &[Token]) -> Vec<Layout> {
    let mut layouts = vec![Layout {
        classes: Vec::new(),
        emblems: Vec::new(),
    }];
    for t in tokens {
        if t.emblem {
            for l in &mut layouts {
                l.emblems.push(l.classes.len());
            }
            continue;
        }
        let mut next = Vec::new();
        for l in &layouts {
            for n in t.min..=t.max {
                let mut v = l.clone();
                v.classes.extend(std::iter::repeat_n(t.class, n));
                next.push(v);
            }
        }
        layouts = next;
        if layouts.len() > 4096 {
            break;
        }
    }
    layouts
}

/// Upper-cases and keeps only A-Z/0-9, with each kept character's confidence.
/// OCR output carries separators (`·`, `-`, spaces) and sometimes Chinese
/// characters or punctuation that no plate format here contains.
pub fn clean_read(chars: &[(char, f32)]) -> Vec<(char, f32)> {
    chars
        .iter()
        .filter_map(|&(c, p)| {
            let u = c.to_ascii_uppercase();
            (u.is_ascii_uppercase() || u.is_ascii_digit()).then_some((u, p))
        })
        .collect()
}

/// The recogniser's second choice for one character, with its probability.
pub type Alt = Option<(char, f32)>;

/// [`clean_read`] keeping each kept character's alternative aligned with it
/// (missing alternatives become `None`), alternatives upper-cased too.
pub fn clean_read_alts(chars: &[(char, f32)], alts: &[Alt]) -> (Vec<(char, f32)>, Vec<Alt>) {
    chars
        .iter()
        .enumerate()
        .filter_map(|(i, &(c, p))| {
            let u = c.to_ascii_uppercase();
            let alt = alts
                .get(i)
                .copied()
                .flatten()
                .map(|(a, pa)| (a.to_ascii_uppercase(), pa));
            (u.is_ascii_uppercase() || u.is_ascii_digit()).then_some(((u, p), alt))
        })
        .unzip()
}

/// Uppercase, A-Z/0-9 only, plus the province character a Chinese plate
/// starts with (`鲁Q1V825` is not `苏Q1V825`): how plate texts are compared.
pub fn canonical(s: &str) -> String {
    base::plate_text::canonical(s)
}

impl PlateFormats {
    /// The table compiled into the crate.
    pub fn builtin() -> Self {
        Self::from_toml(DEFAULT_FORMATS).expect("the built-in plate_formats.toml is valid")
    }

    /// Parses a table in the `plate_formats.toml` syntax.
    pub fn from_toml(s: &str) -> Result<Self, VehiclesError> {
        let f: FormatFile = toml::from_str(s).map_err(|e| VehiclesError::Formats(e.to_string()))?;
        let mut to_digit = HashMap::new();
        for (k, v) in &f.confusions.to_digit {
            let (k, v) = (one_char(k, "to_digit")?, one_char(v, "to_digit")?);
            if !v.is_ascii_digit() {
                return Err(VehiclesError::Formats(format!(
                    "to_digit maps `{k}` to `{v}`, which is not a digit"
                )));
            }
            to_digit.insert(k, v);
        }
        let mut to_letter = HashMap::new();
        for (k, v) in &f.confusions.to_letter {
            let (k, v) = (one_char(k, "to_letter")?, one_char(v, "to_letter")?);
            if !v.is_ascii_uppercase() {
                return Err(VehiclesError::Formats(format!(
                    "to_letter maps `{k}` to `{v}`, which is not a letter"
                )));
            }
            to_letter.insert(k, v);
        }
        let mut fold = HashMap::new();
        for (country, map) in &f.fold {
            let mut m = HashMap::new();
            for (k, v) in map {
                m.insert(one_char(k, "fold")?, one_char(v, "fold")?);
            }
            fold.insert(country.to_ascii_lowercase(), m);
        }
        let mut formats = Vec::new();
        for spec in f.formats {
            let misplaced = if spec.generic {
                spec.penalty.map(|_| {
                    "`penalty` is for specific formats; a generic one sets `generic_penalty`"
                })
            } else {
                spec.generic_penalty.map(|_| {
                    "`generic_penalty` needs `generic = true`; a specific format sets `penalty`"
                })
            };
            if let Some(why) = misplaced {
                return Err(VehiclesError::Formats(format!(
                    "format `{}`: {why}",
                    spec.name
                )));
            }
            if let Some(p) = spec.penalty.or(spec.generic_penalty) {
                if !p.is_finite() || p < 0.0 {
                    return Err(VehiclesError::Formats(format!(
                        "format `{}`: penalty {p} must be a finite number ≥ 0",
                        spec.name
                    )));
                }
            }
            let tokens = parse_pattern(&spec.pattern).map_err(|e| {
                VehiclesError::Formats(format!(
                    "format `{}`: pattern `{}`: {e}",
                    spec.name, spec.pattern
                ))
            })?;
            formats.push(PlateFormat {
                layouts: expand(&tokens),
                name: spec.name,
                country: spec.country.to_ascii_lowercase(),
                description: spec.description,
                pattern: spec.pattern,
                generic: spec.generic,
                penalty: if spec.generic {
                    spec.generic_penalty.unwrap_or(GENERIC_PENALTY)
                } else {
                    spec.penalty.unwrap_or(0.0)
                },
                exact: spec.exact,
                reader: spec.reader,
            });
        }
        if formats.is_empty() {
            return Err(VehiclesError::Formats("no [[format]] entries".into()));
        }
        Ok(PlateFormats {
            formats,
            to_digit,
            to_letter,
            fold,
        })
    }

    pub fn formats(&self) -> &[PlateFormat] {
        &self.formats
    }

    /// Every (read, meant) pair of the confusion tables, sorted: the
    /// recogniser's known misreads, which hotlist matching prices lower.
    pub fn confusion_pairs(&self) -> Vec<(char, char)> {
        let mut v: Vec<(char, char)> = self
            .to_digit
            .iter()
            .chain(&self.to_letter)
            .map(|(&a, &b)| (a, b))
            .collect();
        v.sort_unstable();
        v
    }

    /// Country codes in table order, without repeats.
    pub fn countries(&self) -> Vec<String> {
        self.countries_of(|_| true)
    }

    /// Countries of the formats `keep` accepts, in table order, no repeats.
    fn countries_of(&self, keep: impl Fn(&PlateFormat) -> bool) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for f in self.formats.iter().filter(|f| keep(f)) {
            if !v.contains(&f.country) {
                v.push(f.country.clone());
            }
        }
        v
    }

    /// Cost of making `c` (confidence `p`) fit `class`, or `None` if the
    /// confusion table has no way to.
    /// `alt` is the recogniser's second choice for this character, if any:
    /// the cheaper of it and the table's substitution wins.
    fn fit_char(&self, c: char, p: f32, alt: Alt, class: CharClass) -> Option<(char, f32)> {
        if class.accepts(c) {
            return Some((c, 0.0));
        }
        let table = match class {
            CharClass::Digit => &self.to_digit,
            CharClass::Letter => &self.to_letter,
            CharClass::Any => return None,
        };
        let from_table = table
            .get(&c)
            .map(|&r| (r, SUBST_BASE + SUBST_CONF * p.clamp(0.0, 1.0)));
        let from_alt = alt
            .filter(|&(a, _)| class.accepts(a))
            .map(|(a, pa)| (a, ALT_BASE + ALT_GAP * (p - pa).max(0.0)));
        match (from_table, from_alt) {
            (Some(t), Some(a)) => Some(if a.1 < t.1 { a } else { t }),
            (t, a) => t.or(a),
        }
    }

    /// Fits the characters at `picked` (one per layout position) to
    /// `layout`: the summed correction cost, the text (folded), per-character
    /// confidences and the number of corrections; `None` when a character
    /// cannot be made to fit.
    fn fit_layout(
        &self,
        read: &[(char, f32)],
        alts: &[Alt],
        picked: impl Iterator<Item = usize>,
        layout: &[CharClass],
        fold: Option<&HashMap<char, char>>,
        exact: bool,
    ) -> Option<(f32, String, Vec<f32>, usize)> {
        let fold_char = |c: char| fold.and_then(|m| m.get(&c)).copied().unwrap_or(c);
        let mut cost = 0.0;
        let mut text = String::with_capacity(layout.len());
        let mut conf = Vec::with_capacity(layout.len());
        let mut corrections = 0;
        for (i, &class) in picked.zip(layout) {
            let (c, p) = read[i];
            // A country's fold (US `O` → `0`) is what the character will be
            // reported as, so it fits a slot of the folded class for free.
            let (r, k) = if class.accepts(fold_char(c)) {
                (c, 0.0)
            } else if exact {
                return None;
            } else {
                self.fit_char(c, p, alts[i], class)?
            };
            if r != c {
                corrections += 1;
                conf.push(p * 0.5);
            } else {
                conf.push(p);
            }
            cost += k;
            let folded = fold_char(r);
            if folded != r {
                cost += FOLD_COST;
            }
            text.push(folded);
        }
        Some((cost, text, conf, corrections))
    }

    /// Fits a read to the formats of `countries` (all when empty) and keeps
    /// the cheapest fit; with no fit the cleaned read comes back with
    /// `format: None`. `chars` is the OCR output with per-character
    /// confidence; anything but A-Z/0-9 is dropped first.
    pub fn normalize(&self, chars: &[(char, f32)], countries: &[String]) -> Normalized {
        self.normalize_alts(chars, &[], countries)
    }

    /// [`Self::normalize`] with the recogniser's second choice per character
    /// (`alts[i]` belongs to `chars[i]`; shorter or empty means none), so a
    /// layout can take the OCR's runner-up instead of a blind substitution.
    pub fn normalize_alts(
        &self,
        chars: &[(char, f32)],
        alts: &[Alt],
        countries: &[String],
    ) -> Normalized {
        self.normalize_read(chars, alts, countries, Reader::Ppocr)
    }

    /// Countries with at least one format read by `reader`.
    pub fn reader_countries(&self, reader: Reader) -> Vec<String> {
        self.countries_of(|f| f.reader == reader)
    }

    /// [`Self::normalize_alts`] over the formats `reader` reads only: a
    /// PP-OCR read is never fitted to a layout only LPRNet reads (China's
    /// `L AAAAA` would take every six-character read), and the reverse.
    pub fn normalize_read(
        &self,
        chars: &[(char, f32)],
        alts: &[Alt],
        countries: &[String],
        reader: Reader,
    ) -> Normalized {
        let (read, alts) = clean_read_alts(chars, alts);
        let mut best: Option<(f32, Normalized)> = None;
        for f in &self.formats {
            if f.reader != reader {
                continue;
            }
            if !countries.is_empty()
                && !countries.iter().any(|c| c.eq_ignore_ascii_case(&f.country))
            {
                continue;
            }
            let fold = self.fold.get(&f.country);
            for Layout {
                classes: layout,
                emblems,
            } in &f.layouts
            {
                let n = layout.len();
                if n == 0 || n > read.len() {
                    continue;
                }
                for start in 0..=read.len() - n {
                    // The layout over `n` consecutive characters, or over
                    // `n + 1` with one interior character dropped (a glyph
                    // split in two or a bolt read as a character: CTC's
                    // commonest insertion).
                    // A catch-all accepts any character, so a drop there is
                    // only a way to shed a doubtful one: never for generics.
                    let inner = if !f.generic && start + n < read.len() {
                        start + 1..start + n
                    } else {
                        0..0
                    };
                    for skip in std::iter::once(None).chain(inner.map(Some)) {
                        let span = n + usize::from(skip.is_some());
                        let outside = read[..start].iter().chain(&read[start + span..]);
                        let mut cost = f.penalty
                            + outside
                                .map(|&(_, p)| TRIM_BASE + p.clamp(0.0, 1.0))
                                .sum::<f32>()
                            + skip.map_or(0.0, |k| {
                                if emblems.contains(&(k - start)) {
                                    EMBLEM_DROP
                                } else {
                                    INNER_DROP_BASE + INNER_DROP_CONF * read[k].1.clamp(0.0, 1.0)
                                }
                            });
                        if best.as_ref().is_some_and(|(b, _)| cost >= *b) {
                            continue;
                        }
                        let picked = (start..start + span).filter(|&i| Some(i) != skip);
                        let Some(fit) =
                            self.fit_layout(&read, &alts, picked, layout, fold, f.exact)
                        else {
                            continue;
                        };
                        cost += fit.0;
                        if best.as_ref().is_some_and(|(b, _)| cost >= *b) {
                            continue;
                        }
                        let (_, text, char_conf, corrections) = fit;
                        best = Some((
                            cost,
                            Normalized {
                                text,
                                char_conf,
                                format: Some(f.name.clone()),
                                corrections,
                                trimmed: read.len() - n,
                            },
                        ));
                    }
                }
            }
        }
        match best {
            Some((_, n)) => n,
            None => Normalized {
                text: read.iter().map(|&(c, _)| c).collect(),
                char_conf: read.iter().map(|&(_, p)| p).collect(),
                format: None,
                corrections: 0,
                trimmed: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<(char, f32)> {
        s.chars().map(|c| (c, 0.9)).collect()
    }
    fn only(c: &str) -> Vec<String> {
        vec![c.to_string()]
    }

    #[test]
    fn builtin_table_parses() {
        let f = PlateFormats::builtin();
        let c = f.countries();
        for want in ["kz", "us", "eu", "br"] {
            assert!(c.iter().any(|x| x == want), "{c:?}");
        }
    }

    #[test]
    fn kazakh_plate_is_kept_and_fixed_where_the_pattern_demands() {
        let f = PlateFormats::builtin();
        let n = f.normalize(&chars("123ABC02"), &only("kz"));
        assert_eq!(n.text, "123ABC02");
        assert_eq!(n.format.as_deref(), Some("kz"));
        assert_eq!(n.corrections, 0);
        // O read in the region digits, 8 read for B among the letters.
        let n = f.normalize(&chars("123A8CO2"), &only("kz"));
        assert_eq!(n.text, "123ABC02");
        assert_eq!(n.corrections, 2);
        // separators and the OCR's middle dot are dropped
        let n = f.normalize(&chars("123·ABC-02"), &only("kz"));
        assert_eq!(n.text, "123ABC02");
        // older format: region letter first
        let n = f.normalize(&chars("A123BCD"), &only("kz"));
        assert_eq!(n.format.as_deref(), Some("kz-1993"));
    }

    #[test]
    fn brazil_old_and_mercosur() {
        let f = PlateFormats::builtin();
        let n = f.normalize(&chars("ABC1D23"), &only("br"));
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("ABC1D23", Some("br-mercosur"))
        );
        let n = f.normalize(&chars("ABC1234"), &only("br"));
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("ABC1234", Some("br"))
        );
        // 0 among the letters, B among the digits
        let n = f.normalize(&chars("0LC472B"), &only("br"));
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("OLC4728", Some("br"))
        );
        // A letter in the 5th place is Mercosur, so it is left alone.
        let n = f.normalize(&chars("AYO9O34"), &only("br"));
        assert_eq!(n.format.as_deref(), Some("br-mercosur"));
    }

    #[test]
    fn generic_formats_change_nothing() {
        let f = PlateFormats::builtin();
        // A European personalised plate with O and 0 both stays as read.
        let n = f.normalize(&chars("O0SG7I9"), &only("eu"));
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("O0SG7I9", Some("eu"))
        );
        assert_eq!(n.corrections, 0);
    }

    #[test]
    fn specific_beats_generic_only_when_cheap() {
        let f = PlateFormats::builtin();
        let eu = only("eu");
        // one confusion: the Slovak (Italian, French) layout wins and fixes it
        let n = f.normalize(&chars("RK7S5AJ"), &eu);
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("RK755AJ", Some("sk-it-fr"))
        );
        // four digits: only Croatia's layout
        let n = f.normalize(&chars("ZG1Z34AB"), &eu);
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("ZG1234AB", Some("hr"))
        );
        // a personalised plate stays generic
        let n = f.normalize(&chars("GWAGEN"), &eu);
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("GWAGEN", Some("eu"))
        );
    }

    #[test]
    fn an_exact_format_takes_only_reads_that_already_fit() {
        let f = PlateFormats::builtin();
        let eu = only("eu");
        // a Polish plate read as it is: no longer bent into the Slovak layout
        let n = f.normalize(&chars("WA56660"), &eu);
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("WA56660", Some("pl"))
        );
        // a Slovak plate whose doubtful `A` would make it Polish as `4`
        let mut c = chars("RK896A0");
        c[5].1 = 0.5;
        let n = f.normalize(&c, &eu);
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("RK896AO", Some("sk-it-fr"))
        );
    }

    #[test]
    fn florida_layouts_keep_exact_reads_but_yield_to_a_doubtful_correction() {
        let f = PlateFormats::builtin();
        let us = only("us");
        // an `ABC D12` plate read as it is: no longer bent into `LLL DDD`
        let n = f.normalize(&chars("ATGL04"), &us);
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("ATGL04", Some("us-fl-lll-l11"))
        );
        // an `ABC 123` plate whose `2` was read as a doubtful `Z` is still fixed
        let mut c = chars("HTCZ49");
        c[3].1 = 0.3;
        let n = f.normalize(&c, &us);
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("HTC249", Some("us-lll111"))
        );
        // a specific format's penalty is checked like the generic one's
        let bad = "[confusions]\n[[format]]\nname = \"x\"\ncountry = \"us\"\npattern = \"LLL\"\npenalty = -1\n";
        let e = PlateFormats::from_toml(bad).unwrap_err().to_string();
        assert!(e.contains("format `x`") && e.contains("penalty"), "{e}");
        let bad =
            "[confusions]\n[[format]]\nname = \"y\"\ncountry = \"us\"\npattern = \"LLL\"\ngeneric_penalty = 1\n";
        let e = PlateFormats::from_toml(bad).unwrap_err().to_string();
        assert!(e.contains("generic = true"), "{e}");
    }

    #[test]
    fn lprnet_formats_fit_only_lprnet_reads() {
        let f = PlateFormats::builtin();
        assert_eq!(f.reader_countries(Reader::Lprnet), ["cn"]);
        assert!(!f
            .reader_countries(Reader::Ppocr)
            .contains(&"cn".to_string()));
        // a six-character PP-OCR read never becomes a Chinese plate…
        let n = f.normalize(&chars("QVW812"), &[]);
        assert_ne!(n.format.as_deref(), Some("cn"));
        let n = f.normalize(&chars("QVW812"), &only("cn"));
        assert_eq!(n.format, None);
        // …while LPRNet's read after the province fits, I and O folded
        let n = f.normalize_read(&chars("AH712X"), &[], &only("cn"), Reader::Lprnet);
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("AH712X", Some("cn"))
        );
        let n = f.normalize_read(&chars("QFO2599"), &[], &only("cn"), Reader::Lprnet);
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("QF02599", Some("cn-nev"))
        );
        // the province is part of the plate when texts are compared
        assert_eq!(canonical("鲁Q·1V825"), "鲁Q1V825");
        assert_ne!(canonical("鲁Q1V825"), canonical("苏Q1V825"));
        assert_eq!(canonical("ab-12 cd"), "AB12CD");
        let bad = "[confusions]\n[[format]]\nname = \"x\"\ncountry = \"cn\"\npattern = \"L\"\nreader = \"tesseract\"\n";
        let e = PlateFormats::from_toml(bad).unwrap_err().to_string();
        assert!(e.contains("tesseract"), "{e}");
    }

    #[test]
    fn us_plates_fold_letter_o_to_zero() {
        let f = PlateFormats::builtin();
        let n = f.normalize(&chars("HLOKTY1"), &only("us"));
        assert_eq!(n.text, "HL0KTY1");
        // a doubtful character is fixed by a state's standard series…
        let mut c = chars("CLTD108");
        c[3].1 = 0.4;
        let n = f.normalize(&c, &only("us"));
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("CLT0108", Some("us-lll1111"))
        );
        // …a confident one is not: 8FV480 is not forced to LLL DDD
        let n = f.normalize(&chars("8FV480"), &only("us"));
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("8FV480", Some("us"))
        );
    }

    #[test]
    fn with_every_country_a_read_that_fits_as_it_is_is_not_folded() {
        let f = PlateFormats::builtin();
        // Brazil's LLL DDDD and the US series LLL DDDD both fit; only the
        // US one would fold the O. With no country given, the read stands.
        let n = f.normalize(&chars("OCX4764"), &[]);
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("OCX4764", Some("br"))
        );
        // a US camera still folds it
        let n = f.normalize(&chars("OCX4764"), &only("us"));
        assert_eq!(n.text, "0CX4764");
    }

    #[test]
    fn missouri_series_fixes_a_fairly_sure_misread_but_not_a_certain_one() {
        let f = PlateFormats::builtin();
        // G read where Missouri's LL D L D L needs a digit, OCR 70 % sure.
        let mut c = chars("MHGV4L");
        c[2].1 = 0.7;
        let n = f.normalize(&c, &only("us"));
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("MH6V4L", Some("us-ll1l1l"))
        );
        // The same read at 95 % stays as read (generic US).
        let n = f.normalize(
            &chars("MHGV4L")
                .iter()
                .map(|&(c, _)| (c, 0.95))
                .collect::<Vec<_>>(),
            &only("us"),
        );
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("MHGV4L", Some("us"))
        );
    }

    #[test]
    fn extra_characters_at_the_ends_are_trimmed_when_cheaper() {
        let f = PlateFormats::builtin();
        let mut c = chars("ABC1234");
        c.insert(0, ('I', 0.3));
        let n = f.normalize(&c, &only("br"));
        assert_eq!(n.text, "ABC1234");
        assert_eq!(n.trimmed, 1);
    }

    #[test]
    fn no_fit_returns_the_clean_read() {
        let f = PlateFormats::builtin();
        let n = f.normalize(&chars("AB"), &only("br"));
        assert_eq!((n.text.as_str(), n.format), ("AB", None));
        let n = f.normalize(&[], &[]);
        assert_eq!(n.text, "");
    }

    #[test]
    fn bad_tables_are_rejected_with_a_reason() {
        let bad = "[confusions]\n[[format]]\nname='x'\ncountry='x'\npattern='DX'\n";
        let e = PlateFormats::from_toml(bad).unwrap_err().to_string();
        assert!(e.contains("unknown class"), "{e}");
        let bad = "[confusions]\nto_digit = { O = 'A' }\n[[format]]\nname='x'\ncountry='x'\npattern='D'\n";
        assert!(PlateFormats::from_toml(bad).is_err());
        assert!(PlateFormats::from_toml("[confusions]\nformat = []\n").is_err());
    }

    #[test]
    fn a_character_read_from_an_emblem_is_dropped_where_the_pattern_places_one() {
        let f = PlateFormats::builtin();
        // Missouri `UH1 F0F` with its bluebird read as `O`: `UHIOFOF`. The
        // `I` (p 0.6) must become `1`; dropping it instead, with the `O`
        // folding to `0`, would cost 0.3 + 1.5 × 0.6 and read `UH0F0F`.
        let mut c = chars("UHIOFOF");
        c[2].1 = 0.6;
        let n = f.normalize(&c, &only("us"));
        assert_eq!(n.text, "UH1F0F");
        assert_eq!(n.format.as_deref(), Some("us-ll1l1l"));
        // A pattern of its own: the `O` between `A1` and `2B` is the emblem.
        let t = "[confusions]\n[[format]]\nname='x'\ncountry='x'\npattern='LD * DL'\n";
        let x = PlateFormats::from_toml(t).unwrap();
        assert_eq!(x.normalize(&chars("A1O2B"), &only("x")).text, "A12B");
        assert!(PlateFormats::from_toml(
            "[confusions]\n[[format]]\nname='x'\ncountry='x'\npattern='*'\n"
        )
        .is_err());
    }

    #[test]
    fn the_ocr_second_choice_beats_the_table_only_when_it_is_close() {
        let f = PlateFormats::builtin();
        // `123ABC02`: the fourth character must be a letter; the OCR read `8`.
        let mut c = chars("1238BC02");
        c[3].1 = 0.55;
        let mut alts = vec![None; c.len()];
        alts[3] = Some(('R', 0.40)); // a close runner-up: taken over the table's B
        let n = f.normalize_alts(&c, &alts, &only("kz"));
        assert_eq!(n.text, "123RBC02");
        assert_eq!(n.corrections, 1);
        alts[3] = Some(('R', 0.02)); // a faint one: the table's B wins
        c[3].1 = 0.97;
        assert_eq!(f.normalize_alts(&c, &alts, &only("kz")).text, "123BBC02");
        // an alternative of the wrong class is no use: `7` for a letter slot
        alts[3] = Some(('7', 0.45));
        assert_eq!(f.normalize_alts(&c, &alts, &only("kz")).text, "123BBC02");
        // alternatives stay aligned when separators are dropped
        let mut c = chars("123-8BC02");
        c[4].1 = 0.55;
        let mut alts = vec![None; c.len()];
        alts[4] = Some(('r', 0.40));
        assert_eq!(f.normalize_alts(&c, &alts, &only("kz")).text, "123RBC02");
    }

    #[test]
    fn one_doubtful_interior_character_is_dropped_to_fit_a_series() {
        let f = PlateFormats::builtin();
        // Missouri `LL D L D L` with a split glyph read as an extra `A`
        // (away from the emblem's place, where any character goes for free)
        let mut c = chars("UF2V5AS");
        c[5].1 = 0.45;
        let n = f.normalize(&c, &only("us"));
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("UF2V5S", Some("us-ll1l1l"))
        );
        assert_eq!(n.trimmed, 1);
        // a confident character is kept: the generic US format takes the read
        c[5].1 = 0.9;
        assert_eq!(f.normalize(&c, &only("us")).text, "UF2V5AS");
    }

    #[test]
    fn a_folded_character_fits_its_folded_class_for_free() {
        let f = PlateFormats::builtin();
        // US reports O as 0, so `ABC O12` is a clean `LLL DDD`, not a correction
        let n = f.normalize(&chars("ABCO12"), &only("us"));
        assert_eq!((n.text.as_str(), n.corrections), ("ABC012", 0));
        assert_eq!(n.format.as_deref(), Some("us-lll111"));
    }

    #[test]
    fn canonical_strips_separators() {
        assert_eq!(canonical("ab-12 c.d"), "AB12CD");
    }
}
