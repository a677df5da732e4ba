//! Hotlists: stolen/wanted vehicles by plate, matched against plate reads
//! exactly and with confusion-aware fuzzy matching, plus wildcard search.
//!
//! Pure logic, no storage: [`HotlistEntry`] carries everything a store needs
//! to persist (id, plate, list name, reason, priority, expiry), and a store
//! hands its entries to [`Hotlist::new`].
//!
//! Why a weighted distance: an OCR misread is rarely an arbitrary character.
//! `0`/`O`, `8`/`B`, `1`/`I`, `5`/`S`… are the substitutions the recogniser
//! makes (they are the confusion tables of `plate_formats.toml`), so a read
//! that differs from a wanted plate only by such pairs is far more likely to
//! be that plate than one differing by `A`/`X`. Confusable substitutions cost
//! [`MatchConfig::confusable_cost`] and any other edit 1, so a max distance
//! of 1 admits two confusions or one arbitrary edit, never two arbitrary
//! ones.

use crate::anpr::PlateRead;
use crate::error::VehiclesError;
use crate::formats::PlateFormats;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// One wanted plate. `plate` is stored as entered; matching uses
/// [`normalize_plate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HotlistEntry {
    /// Store key.
    pub id: i64,
    pub plate: String,
    /// Which list the entry is on (`stolen`, `wanted`, `expired-permit`…).
    pub list: String,
    /// Free text shown with an alert.
    pub reason: String,
    /// Higher is more urgent; alerts sort by it.
    pub priority: i32,
    /// Unix milliseconds after which the entry no longer matches; `None`
    /// never expires.
    pub expires_ms: Option<i64>,
}

impl HotlistEntry {
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.expires_ms.is_none_or(|e| now_ms < e)
    }
}

/// How a read matched an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// Same characters after normalisation.
    Exact,
    /// Within the weighted edit distance.
    Fuzzy,
}

/// One match of a read against the hotlist.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HotlistHit {
    pub entry: HotlistEntry,
    pub kind: MatchKind,
    /// Weighted edit distance (0 for exact).
    pub distance: f32,
    /// The normalised read that matched.
    pub read: String,
    /// The OCR confidence the read came with.
    pub read_confidence: f32,
}

/// An alert: a hotlist hit with the plate read that caused it, so an
/// operator can judge a fuzzy hit from the evidence (what the OCR saw, where,
/// how sure it was) before acting.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HotlistAlert {
    pub hit: HotlistHit,
    /// The full plate read: normalised and raw text, format, box, corners,
    /// per-character confidence, how the plate was found.
    pub evidence: PlateRead,
}

/// Matching settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchConfig {
    /// Largest weighted distance that still counts as a fuzzy hit.
    pub max_distance: f32,
    /// Cost of substituting a confusable pair (`0`↔`O`, `8`↔`B`…).
    pub confusable_cost: f32,
    /// Cost of any other substitution, insertion or deletion.
    pub edit_cost: f32,
    /// Reads with a confidence below this only match exactly: a doubtful
    /// read that is also a fuzzy match is mostly noise.
    pub min_fuzzy_confidence: f32,
    /// Plates shorter than this (normalised) only match exactly: one edit
    /// on a 3-character plate matches half the city.
    pub min_fuzzy_len: usize,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            max_distance: 1.0,
            confusable_cost: 0.5,
            edit_cost: 1.0,
            min_fuzzy_confidence: 0.3,
            min_fuzzy_len: 5,
        }
    }
}

/// Upper-case A-Z/0-9 only: spaces, dashes, dots and anything else dropped.
pub fn normalize_plate(s: &str) -> String {
    crate::formats::canonical(s)
}

/// Pairs of characters the recogniser confuses, unordered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfusionSet {
    pairs: HashSet<(char, char)>,
}

impl ConfusionSet {
    /// The pairs of the plate-format confusion tables (`to_digit` and
    /// `to_letter`), which record the recogniser's known misreads.
    pub fn from_formats(f: &PlateFormats) -> Self {
        let mut s = ConfusionSet::default();
        for (a, b) in f.confusion_pairs() {
            s.insert(a, b);
        }
        s
    }

    /// The built-in format table's pairs.
    pub fn builtin() -> Self {
        Self::from_formats(&PlateFormats::builtin())
    }

    pub fn insert(&mut self, a: char, b: char) {
        let (a, b) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
        if a != b {
            self.pairs.insert((a.min(b), a.max(b)));
        }
    }

    pub fn contains(&self, a: char, b: char) -> bool {
        self.pairs.contains(&(a.min(b), a.max(b)))
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Weighted Levenshtein distance between two normalised plates:
/// confusable substitutions cost `cfg.confusable_cost`, other edits
/// `cfg.edit_cost`.
pub fn weighted_distance(a: &str, b: &str, conf: &ConfusionSet, cfg: &MatchConfig) -> f32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<f32> = (0..=b.len()).map(|j| j as f32 * cfg.edit_cost).collect();
    let mut cur = vec![0.0f32; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i as f32 * cfg.edit_cost;
        for j in 1..=b.len() {
            let sub = if a[i - 1] == b[j - 1] {
                0.0
            } else if conf.contains(a[i - 1], b[j - 1]) {
                cfg.confusable_cost
            } else {
                cfg.edit_cost
            };
            cur[j] = (prev[j - 1] + sub)
                .min(prev[j] + cfg.edit_cost)
                .min(cur[j - 1] + cfg.edit_cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// A plate search pattern: `?` is any one character, `*` any run (also
/// empty); other characters are normalised like plates (`12?-AB*` →
/// `12?AB*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatePattern {
    tokens: Vec<PatTok>,
    source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PatTok {
    Char(char),
    One,
    Any,
}

impl PlatePattern {
    pub fn parse(p: &str) -> Result<Self, VehiclesError> {
        let mut tokens = Vec::new();
        for c in p.chars() {
            let t = match c {
                '?' => PatTok::One,
                '*' => {
                    if tokens.last() == Some(&PatTok::Any) {
                        continue;
                    }
                    PatTok::Any
                }
                c if base::plate_text::is_plate_char(c) => PatTok::Char(c.to_ascii_uppercase()),
                c if base::plate_text::is_separator(c) => continue,
                other => {
                    return Err(VehiclesError::InvalidInput(format!(
                        "plate pattern `{p}`: `{other}` is not a letter, digit, `?` or `*`"
                    )))
                }
            };
            tokens.push(t);
        }
        if tokens.is_empty() {
            return Err(VehiclesError::InvalidInput(format!(
                "plate pattern `{p}` is empty"
            )));
        }
        Ok(PlatePattern {
            tokens,
            source: p.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the (normalised) plate matches the whole pattern.
    pub fn matches(&self, plate: &str) -> bool {
        let s: Vec<char> = normalize_plate(plate).chars().collect();
        // Classic glob matching with backtracking to the last `*`.
        let (mut i, mut j) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while i < s.len() {
            match self.tokens.get(j) {
                Some(PatTok::Char(c)) if *c == s[i] => {
                    i += 1;
                    j += 1;
                }
                Some(PatTok::One) => {
                    i += 1;
                    j += 1;
                }
                Some(PatTok::Any) => {
                    star = Some((j, i));
                    j += 1;
                }
                _ => match star {
                    Some((sj, si)) => {
                        j = sj + 1;
                        i = si + 1;
                        star = Some((sj, si + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[j..].iter().all(|t| *t == PatTok::Any)
    }

    /// A SQL `LIKE` pattern with the same meaning, for a store that keeps
    /// normalised plates (`?` → `_`, `*` → `%`).
    pub fn to_sql_like(&self) -> String {
        self.tokens
            .iter()
            .map(|t| match t {
                PatTok::Char(c) => *c,
                PatTok::One => '_',
                PatTok::Any => '%',
            })
            .collect()
    }
}

/// A set of wanted plates, ready to match reads.
#[derive(Clone, Debug)]
pub struct Hotlist {
    /// (normalised plate, entry).
    entries: Vec<(String, HotlistEntry)>,
    confusions: ConfusionSet,
    cfg: MatchConfig,
}

impl Hotlist {
    /// Entries whose plate normalises to nothing are refused: they would
    /// match every empty read.
    pub fn new(
        entries: Vec<HotlistEntry>,
        confusions: ConfusionSet,
        cfg: MatchConfig,
    ) -> Result<Self, VehiclesError> {
        if !(cfg.max_distance >= 0.0 && cfg.confusable_cost > 0.0 && cfg.edit_cost > 0.0) {
            return Err(VehiclesError::InvalidInput(
                "hotlist costs must be positive and max_distance non-negative".into(),
            ));
        }
        let mut v = Vec::with_capacity(entries.len());
        for e in entries {
            let n = normalize_plate(&e.plate);
            if n.is_empty() {
                return Err(VehiclesError::InvalidInput(format!(
                    "hotlist entry {} has no plate characters (`{}`)",
                    e.id, e.plate
                )));
            }
            v.push((n, e));
        }
        Ok(Hotlist {
            entries: v,
            confusions,
            cfg,
        })
    }

    /// With the built-in confusion pairs and default settings.
    pub fn with_defaults(entries: Vec<HotlistEntry>) -> Result<Self, VehiclesError> {
        Self::new(entries, ConfusionSet::builtin(), MatchConfig::default())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn config(&self) -> &MatchConfig {
        &self.cfg
    }

    /// Entries matching a plate read, ignoring expiry (see
    /// [`Hotlist::check_at`]): exact hits first, then fuzzy by distance, then
    /// by priority.
    pub fn check(&self, read: &str, confidence: f32) -> Vec<HotlistHit> {
        self.check_inner(read, confidence, None)
    }

    /// As [`Hotlist::check`], skipping entries expired at `now_ms`.
    pub fn check_at(&self, read: &str, confidence: f32, now_ms: i64) -> Vec<HotlistHit> {
        self.check_inner(read, confidence, Some(now_ms))
    }

    fn check_inner(&self, read: &str, confidence: f32, now: Option<i64>) -> Vec<HotlistHit> {
        let r = normalize_plate(read);
        if r.is_empty() {
            return Vec::new();
        }
        let rl = r.chars().count() as f32;
        let fuzzy_ok = confidence >= self.cfg.min_fuzzy_confidence;
        let mut hits = Vec::new();
        for (plate, e) in &self.entries {
            if now.is_some_and(|t| !e.is_active(t)) {
                continue;
            }
            if *plate == r {
                hits.push(HotlistHit {
                    entry: e.clone(),
                    kind: MatchKind::Exact,
                    distance: 0.0,
                    read: r.clone(),
                    read_confidence: confidence,
                });
                continue;
            }
            let pl = plate.chars().count();
            if !fuzzy_ok || pl < self.cfg.min_fuzzy_len {
                continue;
            }
            // Lengths alone bound the distance from below.
            if (pl as f32 - rl).abs() * self.cfg.edit_cost > self.cfg.max_distance {
                continue;
            }
            let d = weighted_distance(&r, plate, &self.confusions, &self.cfg);
            if d <= self.cfg.max_distance + 1e-6 {
                hits.push(HotlistHit {
                    entry: e.clone(),
                    kind: MatchKind::Fuzzy,
                    distance: d,
                    read: r.clone(),
                    read_confidence: confidence,
                });
            }
        }
        hits.sort_by(|a, b| {
            a.distance
                .total_cmp(&b.distance)
                .then(b.entry.priority.cmp(&a.entry.priority))
                .then(a.entry.id.cmp(&b.entry.id))
        });
        hits
    }

    /// Alerts for one plate read (see [`Hotlist::check_at`]), most urgent
    /// first.
    pub fn alerts(&self, read: &PlateRead, now_ms: i64) -> Vec<HotlistAlert> {
        self.check_at(&read.text, read.confidence, now_ms)
            .into_iter()
            .map(|hit| HotlistAlert {
                hit,
                evidence: read.clone(),
            })
            .collect()
    }

    /// Entries whose plate matches a wildcard pattern (`12?AB*`).
    pub fn search(&self, pattern: &PlatePattern) -> Vec<&HotlistEntry> {
        self.entries
            .iter()
            .filter(|(p, _)| pattern.matches(p))
            .map(|(_, e)| e)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, plate: &str) -> HotlistEntry {
        HotlistEntry {
            id,
            plate: plate.into(),
            list: "stolen".into(),
            reason: "reported stolen".into(),
            priority: id as i32,
            expires_ms: None,
        }
    }

    fn list(plates: &[&str]) -> Hotlist {
        Hotlist::with_defaults(
            plates
                .iter()
                .enumerate()
                .map(|(i, p)| entry(i as i64 + 1, p))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn normalisation_strips_separators_and_case() {
        assert_eq!(normalize_plate(" 123 abc-02 "), "123ABC02");
        assert_eq!(normalize_plate("ab·12.c"), "AB12C");
    }

    #[test]
    fn confusions_come_from_the_format_tables() {
        let c = ConfusionSet::builtin();
        for (a, b) in [('0', 'O'), ('8', 'B'), ('1', 'I'), ('5', 'S'), ('2', 'Z')] {
            assert!(c.contains(a, b) && c.contains(b, a), "{a}{b}");
        }
        assert!(!c.contains('A', 'X'));
    }

    #[test]
    fn weighted_distance_prices_confusions_lower() {
        let c = ConfusionSet::builtin();
        let cfg = MatchConfig::default();
        assert_eq!(weighted_distance("ABC123", "ABC123", &c, &cfg), 0.0);
        assert_eq!(weighted_distance("AB0123", "ABO123", &c, &cfg), 0.5);
        assert_eq!(weighted_distance("A8C123", "ABC123", &c, &cfg), 0.5);
        assert_eq!(weighted_distance("AXC123", "ABC123", &c, &cfg), 1.0);
        assert_eq!(weighted_distance("ABC1234", "ABC123", &c, &cfg), 1.0);
        assert_eq!(weighted_distance("", "AB", &c, &cfg), 2.0);
    }

    #[test]
    fn exact_and_fuzzy_hits() {
        let h = list(&["123 ABC 02", "KZ777AA", "ABC1234"]);
        let hits = h.check("123abc02", 0.9);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].kind, MatchKind::Exact);
        assert_eq!(hits[0].entry.id, 1);
        // Two confusions (8/B, 0/O) = 1.0: still a hit.
        let hits = h.check("123A8C-O2", 0.9);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].kind, MatchKind::Fuzzy);
        assert_eq!(hits[0].distance, 1.0);
        // Two arbitrary substitutions are not.
        assert!(h.check("123AXCQ2", 0.9).is_empty());
        // One missing character is one edit.
        assert_eq!(h.check("ABC123", 0.9)[0].entry.id, 3);
    }

    #[test]
    fn doubtful_reads_and_short_plates_match_only_exactly() {
        let h = list(&["ABC1234", "AB1"]);
        assert!(h.check("A8C1234", 0.1).is_empty());
        assert_eq!(h.check("ABC1234", 0.1).len(), 1);
        assert!(h.check("A81", 0.9).is_empty());
    }

    #[test]
    fn max_distance_is_configurable() {
        let entries = vec![entry(1, "ABC1234")];
        let strict = Hotlist::new(
            entries.clone(),
            ConfusionSet::builtin(),
            MatchConfig {
                max_distance: 0.5,
                ..MatchConfig::default()
            },
        )
        .unwrap();
        assert_eq!(strict.check("A8C1234", 0.9).len(), 1);
        assert!(strict.check("A8C12E4", 0.9).is_empty());
        assert!(strict.check("AXC1234", 0.9).is_empty());
        assert!(Hotlist::new(
            vec![entry(1, "--")],
            ConfusionSet::builtin(),
            MatchConfig::default()
        )
        .is_err());
    }

    #[test]
    fn hits_sort_exact_first_then_distance_then_priority() {
        let h = list(&["ABC1234", "ABC1235", "A8C1234"]);
        let hits = h.check("ABC1234", 0.9);
        assert_eq!(hits[0].kind, MatchKind::Exact);
        assert_eq!(hits[0].entry.id, 1);
        assert_eq!(
            hits[1].entry.id, 3,
            "confusion (0.5) before arbitrary edit (1.0)"
        );
        assert_eq!(hits[2].entry.id, 2);
    }

    #[test]
    fn expired_entries_do_not_match() {
        let mut e = entry(1, "ABC1234");
        e.expires_ms = Some(1000);
        let h = Hotlist::with_defaults(vec![e]).unwrap();
        assert_eq!(h.check_at("ABC1234", 0.9, 999).len(), 1);
        assert!(h.check_at("ABC1234", 0.9, 1000).is_empty());
    }

    #[test]
    fn alerts_carry_the_read_as_evidence() {
        let h = list(&["ABC1234"]);
        let read = PlateRead {
            text: "A8C1234".into(),
            raw_text: "A8C-1234".into(),
            format: Some("us-lll1111".into()),
            bbox: base::BBox::new(1.0, 2.0, 30.0, 12.0),
            corners: [base::Point::new(0.0, 0.0); 4],
            confidence: 0.8,
            char_conf: vec![0.8; 7],
            det_score: 0.9,
            source: crate::anpr::PlateSource::Vehicle,
            vehicle: None,
        };
        let a = h.alerts(&read, 0);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].hit.kind, MatchKind::Fuzzy);
        assert_eq!(a[0].evidence.raw_text, "A8C-1234");
        let j = serde_json::to_value(&a[0]).unwrap();
        assert_eq!(j["hit"]["kind"], "fuzzy");
        assert_eq!(j["hit"]["entry"]["list"], "stolen");
    }

    #[test]
    fn wildcard_patterns() {
        let p = PlatePattern::parse("12?-ab*").unwrap();
        assert!(p.matches("123AB"));
        assert!(p.matches("129 ABC 02"));
        assert!(!p.matches("12AB"));
        assert!(!p.matches("123AC02"));
        assert_eq!(p.to_sql_like(), "12_AB%");
        let p = PlatePattern::parse("*77*").unwrap();
        assert!(p.matches("KZ777AA") && !p.matches("KZ7A7"));
        assert!(PlatePattern::parse("").is_err());
        assert!(PlatePattern::parse("AB%").is_err());
        let p = PlatePattern::parse("鲁Q*").unwrap();
        assert!(p.matches("鲁Q·1V825") && !p.matches("苏Q1V825") && !p.matches("Q1V825"));
        let h = list(&["123ABC02", "124ABD02", "999XYZ01"]);
        let found: Vec<i64> = h
            .search(&PlatePattern::parse("12?AB*").unwrap())
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(found, vec![1, 2]);
    }
}
