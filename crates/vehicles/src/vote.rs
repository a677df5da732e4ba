//! Per-track plate voting: a moving vehicle is read in many frames, each read
//! partly wrong in a different place (blur, glare, a character cut off), so
//! the reads are combined position by position, weighted by confidence.

use crate::anpr::PlateRead;
use serde::Serialize;
use std::collections::HashMap;

/// The outcome of a vote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlateVote {
    pub text: String,
    /// 0..1: the share of the weight behind the winning length, times the
    /// mean per-position share behind each winning character, times the
    /// mean read confidence; one clean read alone is no more certain than
    /// the read itself.
    pub confidence: f32,
    /// Reads accumulated.
    pub reads: usize,
    /// Reads whose text equals the voted text.
    pub agreeing: usize,
}

#[derive(Clone, Debug)]
struct Read {
    text: Vec<char>,
    char_conf: Vec<f32>,
    confidence: f32,
}

/// Accumulates the reads of one track.
#[derive(Clone, Debug, Default)]
pub struct PlateVoter {
    reads: Vec<Read>,
    /// Keep at most this many reads (the most confident); 0 = unlimited.
    pub max_reads: usize,
}

impl PlateVoter {
    pub fn new() -> Self {
        PlateVoter {
            reads: Vec::new(),
            max_reads: 64,
        }
    }

    /// Adds one read. `char_conf` gives each character's confidence (missing
    /// entries count as `confidence`); empty texts and non-finite or
    /// non-positive confidences are ignored.
    pub fn add(&mut self, text: &str, char_conf: &[f32], confidence: f32) {
        let text: Vec<char> = text.chars().collect();
        if text.is_empty() || !confidence.is_finite() || confidence <= 0.0 {
            return;
        }
        let char_conf = (0..text.len())
            .map(|i| {
                char_conf
                    .get(i)
                    .copied()
                    .filter(|p| p.is_finite())
                    .unwrap_or(confidence)
                    .clamp(0.0, 1.0)
            })
            .collect();
        self.reads.push(Read {
            text,
            char_conf,
            confidence: confidence.min(1.0),
        });
        if self.max_reads > 0 && self.reads.len() > self.max_reads {
            let worst = self
                .reads
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.confidence.total_cmp(&b.1.confidence))
                .map(|(i, _)| i)
                .unwrap_or(0);
            self.reads.remove(worst);
        }
    }

    /// Adds a [`PlateRead`].
    pub fn add_read(&mut self, r: &PlateRead) {
        self.add(&r.text, &r.char_conf, r.confidence);
    }

    pub fn len(&self) -> usize {
        self.reads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }

    /// The voted plate, `None` before any read. The length is voted first
    /// (reads of other lengths cannot be aligned position-wise), then each
    /// position by the sum of read confidence × character confidence.
    pub fn result(&self) -> Option<PlateVote> {
        if self.reads.is_empty() {
            return None;
        }
        let mut by_len: HashMap<usize, f32> = HashMap::new();
        for r in &self.reads {
            *by_len.entry(r.text.len()).or_default() += r.confidence;
        }
        let total: f32 = by_len.values().sum();
        // Highest weight; ties go to the longer read (a dropped character is
        // a more common OCR failure than an invented one).
        let (&len, &len_w) = by_len
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(b.0)))?;
        let same: Vec<&Read> = self.reads.iter().filter(|r| r.text.len() == len).collect();
        let mut text = String::with_capacity(len);
        let mut share_sum = 0.0;
        for i in 0..len {
            let mut w: Vec<(char, f32)> = Vec::new();
            for r in &same {
                let v = r.confidence * r.char_conf[i].max(1e-3);
                match w.iter_mut().find(|(c, _)| *c == r.text[i]) {
                    Some(e) => e.1 += v,
                    None => w.push((r.text[i], v)),
                }
            }
            let pos_total: f32 = w.iter().map(|e| e.1).sum();
            let (c, cw) = w
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?;
            text.push(c);
            share_sum += cw / pos_total.max(1e-9);
        }
        let mean_conf = same.iter().map(|r| r.confidence).sum::<f32>() / same.len() as f32;
        let confidence = (len_w / total) * (share_sum / len as f32) * mean_conf;
        let agreeing = self
            .reads
            .iter()
            .filter(|r| r.text.iter().copied().eq(text.chars()))
            .count();
        Some(PlateVote {
            text,
            confidence: confidence.clamp(0.0, 1.0),
            reads: self.reads.len(),
            agreeing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_voter_has_no_result() {
        assert!(PlateVoter::new().result().is_none());
        let mut v = PlateVoter::new();
        v.add("", &[], 0.9);
        v.add("ABC", &[], f32::NAN);
        assert!(v.is_empty());
    }

    #[test]
    fn per_position_majority_fixes_single_errors() {
        let mut v = PlateVoter::new();
        v.add("123ABC02", &[0.9; 8], 0.9);
        v.add("123A8C02", &[0.9, 0.9, 0.9, 0.9, 0.5, 0.9, 0.9, 0.9], 0.8);
        v.add("I23ABC02", &[0.4, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], 0.7);
        v.add("123ABC0", &[0.9; 7], 0.3); // dropped a character
        let r = v.result().unwrap();
        assert_eq!(r.text, "123ABC02");
        assert_eq!(r.reads, 4);
        assert_eq!(r.agreeing, 1);
        assert!(r.confidence > 0.5 && r.confidence < 1.0, "{}", r.confidence);
    }

    #[test]
    fn confidence_weights_beat_counts() {
        let mut v = PlateVoter::new();
        v.add("ABC1234", &[], 0.95);
        v.add("A8C1234", &[], 0.2);
        v.add("A8C1234", &[], 0.2);
        assert_eq!(v.result().unwrap().text, "ABC1234");
    }

    #[test]
    fn agreement_raises_confidence() {
        let mut one = PlateVoter::new();
        one.add("ABC1234", &[], 0.8);
        let mut split = PlateVoter::new();
        split.add("ABC1234", &[], 0.8);
        split.add("XYZ1234", &[], 0.7);
        assert!(one.result().unwrap().confidence > split.result().unwrap().confidence);
    }

    #[test]
    fn reads_are_capped_keeping_the_best() {
        let mut v = PlateVoter::new();
        v.max_reads = 2;
        v.add("AAA", &[], 0.1);
        v.add("BBB", &[], 0.9);
        v.add("CCC", &[], 0.8);
        assert_eq!(v.len(), 2);
        assert_eq!(v.result().unwrap().text, "BBB");
    }
}
