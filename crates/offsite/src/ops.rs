//! Whole-bucket operations built on [`Bucket`]: the check of objects against the
//! hub's index (`hub check --offsite`), the restore of the index from the bucket
//! (`hub restore --from-offsite`), day indexes, and the bucket's retention.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::bucket::{Bucket, Replicated};
use crate::config::BucketRetention;
use crate::layout::{ObjectName, day_of};
use crate::manifest::{DayIndex, SegmentRecord};
use crate::retention::{EventSpan, plan};
use crate::{Error, ErrorKind};

/// An object the index says is in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub key: String,
    /// Plaintext size.
    pub size_bytes: u64,
    /// SHA-256 (hex) of the plaintext.
    pub sha256: String,
}

/// What [`Bucket::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Objects as expected.
    pub ok: usize,
    /// Expected but absent.
    pub missing: Vec<String>,
    /// Present but different: key and what differs.
    pub corrupt: Vec<(String, String)>,
}

/// What [`Bucket::restore`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Every segment, by camera then start time.
    pub segments: Vec<SegmentRecord>,
    /// Segment objects with no record (neither in a day index nor in metadata).
    pub without_record: Vec<String>,
    /// Keys under the prefix that are not this layout's.
    pub foreign: Vec<String>,
}

impl Bucket {
    /// Compares the bucket with `expected` (from the index): missing objects, sizes
    /// that do not match, and with `deep`, contents whose SHA-256 differs (every object
    /// is downloaded, and decrypted and authenticated when sealed).
    pub async fn check(&self, expected: &[Expected], deep: bool) -> Result<CheckReport, Error> {
        let mut report = CheckReport::default();
        for e in expected {
            let o = match self.head(&e.key).await {
                Ok(o) => o,
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    report.missing.push(e.key.clone());
                    continue;
                }
                Err(err) if err.kind() == ErrorKind::Corrupt => {
                    report
                        .corrupt
                        .push((e.key.clone(), err.message().to_owned()));
                    continue;
                }
                Err(err) => return Err(err),
            };
            if o.plain_len != e.size_bytes {
                report.corrupt.push((
                    e.key.clone(),
                    format!("{} bytes instead of {}", o.plain_len, e.size_bytes),
                ));
                continue;
            }
            if o.sha256.as_deref() != Some(e.sha256.as_str()) {
                report.corrupt.push((
                    e.key.clone(),
                    format!("SHA-256 metadata {:?} instead of {}", o.sha256, e.sha256),
                ));
                continue;
            }
            if deep {
                let plain = match o.plain_len {
                    0 => Bytes::new(),
                    n => match self.read_range(&o, 0..n).await {
                        Ok(b) => b,
                        Err(err) if err.kind() == ErrorKind::Corrupt => {
                            report
                                .corrupt
                                .push((e.key.clone(), err.message().to_owned()));
                            continue;
                        }
                        Err(err) => return Err(err),
                    },
                };
                let got = hex::encode(Sha256::digest(&plain));
                if got != e.sha256 {
                    report.corrupt.push((
                        e.key.clone(),
                        format!("content SHA-256 {got} instead of {}", e.sha256),
                    ));
                    continue;
                }
            }
            report.ok += 1;
        }
        Ok(report)
    }

    /// Writes (replaces) `camera`'s index for `day` with `segments` (all of that day's
    /// segments the bucket holds).
    pub async fn write_day_index(
        &self,
        camera: &str,
        day: &str,
        segments: Vec<SegmentRecord>,
    ) -> Result<Replicated, Error> {
        if let Some(s) = segments
            .iter()
            .find(|s| s.camera != camera || day_of(s.start_ms).as_deref() != Some(day))
        {
            return Err(Error::invalid(format!(
                "segment {} {} is not on {camera} {day}",
                s.camera, s.file_name
            )));
        }
        let key = self.layout().day_index(camera, day)?;
        let index = DayIndex {
            version: 1,
            camera: camera.to_owned(),
            day: day.to_owned(),
            segments,
        };
        let json = serde_json::to_vec(&index).expect("a DayIndex serialises");
        self.replicate_bytes(&key, Bytes::from(json), None).await
    }

    /// Every segment record in the bucket (of one camera or all), from the day indexes
    /// and, for segments no index covers, from each object's metadata.
    pub async fn restore(&self, camera: Option<&str>) -> Result<Restored, Error> {
        let mut out = Restored::default();
        let mut records: BTreeMap<String, SegmentRecord> = BTreeMap::new();
        let indexes = self.list("index", camera).await?;
        out.foreign.extend(indexes.foreign);
        for l in indexes.objects {
            let day = DayIndex::parse(&self.read_all(&l.key).await?)?;
            for s in day.segments {
                if let Ok(k) = self.layout().segment(&s.camera, &s.file_name) {
                    records.insert(k, s);
                }
            }
        }
        let segs = self.list("rec", camera).await?;
        out.foreign.extend(segs.foreign);
        let present: HashSet<&str> = segs.objects.iter().map(|l| l.key.as_str()).collect();
        // An index may name a segment that retention has since deleted.
        records.retain(|k, _| present.contains(k.as_str()));
        for l in &segs.objects {
            if records.contains_key(&l.key) {
                continue;
            }
            let o = self.head(&l.key).await?;
            match o.record.as_deref().map(SegmentRecord::from_meta) {
                Some(Ok(r)) => {
                    records.insert(l.key.clone(), r);
                }
                _ => out.without_record.push(l.key.clone()),
            }
        }
        out.segments = records.into_values().collect();
        out.segments
            .sort_by(|a, b| (&a.camera, a.start_ms).cmp(&(&b.camera, b.start_ms)));
        Ok(out)
    }

    /// Applies the bucket's retention at `now_ms`: lists segments and events, plans
    /// ([`crate::retention::plan`]) and deletes. Returns the keys deleted. Day indexes
    /// whose every segment is gone are deleted too.
    pub async fn apply_retention(
        &self,
        policy: &BucketRetention,
        events: &[EventSpan],
        now_ms: i64,
    ) -> Result<Vec<String>, Error> {
        let mut listing = self.list("rec", None).await?.objects;
        listing.extend(self.list("events", None).await?.objects);
        let doomed = plan(&listing, events, policy, now_ms);
        self.delete(&doomed).await?;
        let gone: HashSet<&str> = doomed.iter().map(String::as_str).collect();
        let mut days_left: HashSet<(String, String)> = HashSet::new();
        for l in listing.iter().filter(|l| !gone.contains(l.key.as_str())) {
            if let ObjectName::Segment {
                camera, start_ms, ..
            } = &l.name
                && let Some(d) = day_of(*start_ms)
            {
                days_left.insert((camera.clone(), d));
            }
        }
        let mut deleted = doomed.clone();
        let stale: Vec<String> = self
            .list("index", None)
            .await?
            .objects
            .into_iter()
            .filter_map(|l| match &l.name {
                ObjectName::DayIndex { camera, day }
                    if !days_left.contains(&(camera.clone(), day.clone())) =>
                {
                    Some(l.key)
                }
                _ => None,
            })
            .collect();
        self.delete(&stale).await?;
        deleted.extend(stale);
        Ok(deleted)
    }
}
