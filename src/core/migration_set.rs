//! `MigrationSet`: the exact set of migration versions a release ships, kept as sorted,
//! disjoint, non-adjacent inclusive ranges (`1-310,312-313`).
//!
//! Real Coder tags are not always `1..=N` (v2.21.x lacks 311, v2.21.1 adds 316 alone), so
//! every compatibility question is answered on sets, never on "highest migration" alone.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A migration version number, as recorded in `schema_migrations.version`.
pub type Version = u64;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MigrationSet {
    /// Inclusive ranges, sorted, disjoint and never touching (normalised on construction).
    ranges: Vec<(Version, Version)>,
}

impl MigrationSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from any versions, in any order, duplicates allowed.
    pub fn from_versions<I: IntoIterator<Item = Version>>(versions: I) -> Self {
        let mut v: Vec<Version> = versions.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        let mut ranges: Vec<(Version, Version)> = Vec::new();
        for x in v {
            match ranges.last_mut() {
                Some((_, hi)) if *hi + 1 == x => *hi = x,
                _ => ranges.push((x, x)),
            }
        }
        MigrationSet { ranges }
    }

    /// Builds `lo..=hi`.
    pub fn range(lo: Version, hi: Version) -> Self {
        if lo > hi {
            return Self::new();
        }
        MigrationSet {
            ranges: vec![(lo, hi)],
        }
    }

    /// Parses `1-310,312-313,316`. Ranges must be ascending, disjoint and not touching, so
    /// that every set has exactly one spelling (the index is compared byte for byte).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::new());
        }
        let mut ranges: Vec<(Version, Version)> = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (parse_version(a)?, parse_version(b)?),
                None => {
                    let v = parse_version(part)?;
                    (v, v)
                }
            };
            if lo > hi {
                return Err(format!("range `{part}` runs backwards"));
            }
            if let Some(&(_, prev_hi)) = ranges.last() {
                if lo <= prev_hi + 1 {
                    return Err(format!(
                        "range `{part}` overlaps or touches the range before it; write ranges ascending and merged"
                    ));
                }
            }
            ranges.push((lo, hi));
        }
        Ok(MigrationSet { ranges })
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|(lo, hi)| hi - lo + 1).sum()
    }

    pub fn min(&self) -> Option<Version> {
        self.ranges.first().map(|r| r.0)
    }

    pub fn max(&self) -> Option<Version> {
        self.ranges.last().map(|r| r.1)
    }

    pub fn ranges(&self) -> &[(Version, Version)] {
        &self.ranges
    }

    pub fn contains(&self, v: Version) -> bool {
        // Binary search on range starts: the candidate is the last range starting at or before v.
        let idx = self.ranges.partition_point(|&(lo, _)| lo <= v);
        idx > 0 && self.ranges[idx - 1].1 >= v
    }

    pub fn iter(&self) -> impl Iterator<Item = Version> + '_ {
        self.ranges.iter().flat_map(|&(lo, hi)| lo..=hi)
    }

    /// The highest member strictly below `v`: the migration golang-migrate ran before `v`.
    pub fn prev(&self, v: Version) -> Option<Version> {
        let idx = self.ranges.partition_point(|&(lo, _)| lo < v);
        if idx == 0 {
            return None;
        }
        let (_, hi) = self.ranges[idx - 1];
        Some(hi.min(v - 1))
    }

    /// Members strictly above `v`: what a binary with this set applies from version `v`.
    pub fn above(&self, v: Version) -> MigrationSet {
        self.filter_range(v.saturating_add(1), Version::MAX)
    }

    /// Members at or below `v`.
    pub fn up_to(&self, v: Version) -> MigrationSet {
        self.filter_range(0, v)
    }

    fn filter_range(&self, lo: Version, hi: Version) -> MigrationSet {
        let ranges = self
            .ranges
            .iter()
            .filter_map(|&(a, b)| {
                let a = a.max(lo);
                let b = b.min(hi);
                (a <= b).then_some((a, b))
            })
            .collect();
        MigrationSet { ranges }
    }

    /// Members of `self` that are not in `other`.
    pub fn difference(&self, other: &MigrationSet) -> MigrationSet {
        MigrationSet::from_versions(self.iter().filter(|v| !other.contains(*v)))
    }

    /// Versions missing between 1 and the maximum (the "gaps" a release has).
    pub fn gaps(&self) -> MigrationSet {
        match self.max() {
            Some(max) => MigrationSet::range(1, max).difference(self),
            None => MigrationSet::new(),
        }
    }
}

fn parse_version(text: &str) -> Result<Version, String> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` is not a migration number"));
    }
    text.parse::<Version>()
        .map_err(|_| format!("`{text}` is too large for a migration number"))
}

impl fmt::Display for MigrationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

impl FromIterator<Version> for MigrationSet {
    fn from_iter<I: IntoIterator<Item = Version>>(iter: I) -> Self {
        MigrationSet::from_versions(iter)
    }
}

impl Serialize for MigrationSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MigrationSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        MigrationSet::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for text in ["", "1-4", "1-310,312-313", "1-310,312-313,316", "7"] {
            assert_eq!(MigrationSet::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn parse_rejects_non_canonical_spellings() {
        assert!(MigrationSet::parse("5-3").is_err());
        assert!(MigrationSet::parse("1-4,4-6").is_err());
        assert!(
            MigrationSet::parse("1-4,5-6").is_err(),
            "touching ranges must be merged"
        );
        assert!(MigrationSet::parse("3,1").is_err());
        assert!(MigrationSet::parse("1-x").is_err());
        assert!(MigrationSet::parse("-1").is_err());
    }

    #[test]
    fn membership_and_neighbours_follow_the_gaps() {
        let s = MigrationSet::parse("1-310,312-313,316").unwrap();
        assert!(s.contains(1) && s.contains(310) && s.contains(312) && s.contains(316));
        assert!(!s.contains(0) && !s.contains(311) && !s.contains(314) && !s.contains(317));
        assert_eq!(s.prev(316), Some(313));
        assert_eq!(s.prev(312), Some(310));
        assert_eq!(s.prev(5), Some(4));
        assert_eq!(s.prev(1), None);
        assert_eq!(s.max(), Some(316));
        assert_eq!(s.len(), 313);
        assert_eq!(s.gaps().to_string(), "311,314-315");
        assert_eq!(s.above(310).to_string(), "312-313,316");
        assert_eq!(s.up_to(312).to_string(), "1-310,312");
    }

    #[test]
    fn difference_and_from_versions_normalise() {
        let a = MigrationSet::parse("1-326").unwrap();
        let b = MigrationSet::parse("1-310,312-313,316").unwrap();
        assert_eq!(a.up_to(316).difference(&b).to_string(), "311,314-315");
        assert_eq!(
            MigrationSet::from_versions([5, 3, 4, 4, 9]).to_string(),
            "3-5,9"
        );
    }
}
