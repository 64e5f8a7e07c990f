//! Retention without cron: [`plan`] is a pure function from the listing, the policy, the
//! time and the free space to an ordered list of deletions, which
//! [`crate::SegmentDir::apply`] carries out. [`forecast`] tells a status page how many days
//! of footage the policy and the disk allow at the current bitrate.
//!
//! Semantics, in the order `plan` applies them:
//!
//! 1. **Age**: a finished segment whose media ended more than `max_age` ago goes, uploaded
//!    or not (an age limit is often a privacy promise).
//! 2. **Size**: while the directory (finished and partial files) holds more than
//!    `max_bytes`, the next segment in *pressure order* goes.
//! 3. **Free space**: while the filesystem has less than `min_free_bytes` free (counting
//!    what the steps before freed), the next segment in pressure order goes.
//!
//! Pressure order is oldest first; with `prefer_uploaded`, every uploaded segment (oldest
//! first) goes before any segment the hub does not have yet. [`plan_keeping`] also keeps
//! marked footage (with events in it) for an age limit of its own and deletes it only after
//! all unmarked footage under pressure. `None` is no limit, and a
//! policy with no limits deletes nothing. `.partial` files and the current segment are never
//! deleted.

use std::time::Duration;

use crate::error::{Result, StoreError};
use crate::segment::SegmentInfo;

/// How much footage a camera keeps. `None` means no limit of that kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Delete segments whose media ended longer ago than this.
    pub max_age: Option<Duration>,
    /// Keep the directory's files under this many bytes.
    pub max_bytes: Option<u64>,
    /// Keep at least this many bytes free on the filesystem (`f_bavail * f_frsize`).
    /// Leave room for a segment or two: it is also the headroom the segment in progress
    /// writes into.
    pub min_free_bytes: Option<u64>,
    /// Under size or free-space pressure, delete uploaded segments before ones the hub
    /// does not have yet.
    pub prefer_uploaded: bool,
}

impl RetentionPolicy {
    /// Keep everything (the disk filling up then stops recording with
    /// [`StoreError::NoSpace`]).
    pub const UNLIMITED: RetentionPolicy = RetentionPolicy {
        max_age: None,
        max_bytes: None,
        min_free_bytes: None,
        prefer_uploaded: false,
    };

    /// The policy for a retention table of a configuration file.
    pub fn from_config(limits: &units::Retention, prefer_uploaded: bool) -> RetentionPolicy {
        RetentionPolicy {
            max_age: limits.max_age(),
            max_bytes: limits.max_bytes(),
            min_free_bytes: limits.min_free_bytes(),
            prefer_uploaded,
        }
    }

    /// Rejects zero limits: a zero `max_age` or `max_bytes` would delete every recording
    /// the moment it is finished, and a zero floor does nothing. "No limit" is `None`.
    /// ([`plan`] itself ignores zero limits rather than delete everything.)
    pub fn validate(&self) -> Result<()> {
        if self.max_age.is_some_and(|d| d.is_zero()) {
            return Err(StoreError::Config(
                "retention max_age is 0, which would delete every recording as soon as it \
                 is written; leave it out for no age limit"
                    .into(),
            ));
        }
        if self.max_bytes == Some(0) {
            return Err(StoreError::Config(
                "retention max_bytes is 0, which would delete every recording as soon as it \
                 is written; leave it out for no size limit"
                    .into(),
            ));
        }
        if self.min_free_bytes == Some(0) {
            return Err(StoreError::Config(
                "retention min_free_bytes is 0, which is no floor at all; leave it out for \
                 no free-space floor"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Why a segment is deleted (or, in a [`Forecast`], what limits retention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Older than `max_age`.
    Age,
    /// The directory is over `max_bytes`.
    Size,
    /// The filesystem is under `min_free_bytes` free.
    FreeSpace,
}

/// One planned deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deletion {
    pub name: String,
    pub reason: Reason,
    pub size_bytes: u64,
}

/// The deletions `policy` asks for, in the order to carry them out (see the module docs).
/// `segments` is a listing from [`crate::SegmentDir::segments`] (any order),
/// `fs_free_bytes` the filesystem's free space, `current_segment` the name of the segment
/// being written (never deleted). Pure: no clock, no disk.
pub fn plan(
    segments: &[SegmentInfo],
    policy: &RetentionPolicy,
    now_ms: i64,
    fs_free_bytes: u64,
    current_segment: Option<&str>,
) -> Vec<Deletion> {
    plan_keeping(
        segments,
        policy,
        now_ms,
        fs_free_bytes,
        current_segment,
        &Keep::NOTHING,
    )
}

/// Footage kept longer than the rest (a hub keeps footage with events in it): the
/// segments `marked` says have their own age limit, `max_age` (`None`: no age limit), and
/// go only after every unmarked segment under size or free-space pressure.
pub struct Keep<'a> {
    pub marked: &'a dyn Fn(&SegmentInfo) -> bool,
    pub max_age: Option<Duration>,
}

impl Keep<'_> {
    /// Nothing kept longer: [`plan`].
    pub const NOTHING: Keep<'static> = Keep {
        marked: &|_| false,
        max_age: None,
    };
}

impl std::fmt::Debug for Keep<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keep")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// [`plan`], keeping the footage `keep` marks for its own age limit and deleting it last
/// under pressure (oldest first within each group; `prefer_uploaded` applies within
/// each group).
pub fn plan_keeping(
    segments: &[SegmentInfo],
    policy: &RetentionPolicy,
    now_ms: i64,
    fs_free_bytes: u64,
    current_segment: Option<&str>,
    keep: &Keep<'_>,
) -> Vec<Deletion> {
    plan_oldest(
        segments,
        0,
        policy,
        now_ms,
        fs_free_bytes,
        current_segment,
        keep,
    )
    .deletions
}

/// What [`plan_oldest`] decided over the oldest part of the footage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OldestPlan {
    pub deletions: Vec<Deletion>,
    /// The deletions are those [`plan_keeping`] would make over all the footage: the
    /// limits were met (or never exceeded) with footage of the first pressure group only
    /// (unmarked; uploaded if that is preferred), without running out of the part given.
    /// `false`: give a longer part (or all of it).
    pub decided: bool,
}

/// [`plan_keeping`] over only the oldest part of the footage: `oldest` holds every
/// segment that starts before some time T at or after the age cutoff (so every segment
/// the age limits take), `other_bytes` what all the rest holds (newer segments, partial
/// files). Lets a caller with an index read a few rows instead of listing everything.
pub fn plan_oldest(
    oldest: &[SegmentInfo],
    other_bytes: u64,
    policy: &RetentionPolicy,
    now_ms: i64,
    fs_free_bytes: u64,
    current_segment: Option<&str>,
    keep: &Keep<'_>,
) -> OldestPlan {
    let segments = oldest;
    let mut order: Vec<&SegmentInfo> = segments.iter().collect();
    order.sort_by(|a, b| (a.start_ms, &a.name).cmp(&(b.start_ms, &b.name)));
    let marked: Vec<bool> = order.iter().map(|s| (keep.marked)(s)).collect();
    let deletable = |s: &SegmentInfo| !s.partial && Some(s.name.as_str()) != current_segment;
    let mut p = Planner {
        used_bytes: order
            .iter()
            .map(|s| s.size_bytes)
            .fold(other_bytes, u64::saturating_add),
        free_bytes: fs_free_bytes,
        gone: vec![false; order.len()],
        out: Vec::new(),
    };
    let cutoff = |age: Option<Duration>| {
        age.filter(|d| !d.is_zero())
            .map(|d| now_ms.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    };
    let (plain_cutoff, kept_cutoff) = (cutoff(policy.max_age), cutoff(keep.max_age));
    for (i, s) in order.iter().enumerate() {
        let limit = if marked[i] { kept_cutoff } else { plain_cutoff };
        if deletable(s) && limit.is_some_and(|c| s.end_ms() < c) {
            p.delete(i, s, Reason::Age);
        }
    }
    let group = |i: usize| (marked[i], policy.prefer_uploaded && !order[i].uploaded);
    let mut pressure: Vec<usize> = (0..order.len())
        .filter(|&i| !p.gone[i] && deletable(order[i]))
        .collect();
    // Stable: oldest first within each group.
    pressure.sort_by_key(|&i| group(i));
    let mut next = pressure.into_iter();
    // Decided while every pressure deletion is of the first group (unmarked, and
    // uploaded if that is preferred) and the part did not run out: those are that
    // group's oldest over all the footage. Another group's member may have footage of an
    // earlier group after the part before it.
    let mut decided = true;
    let mut take = |p: &mut Planner, reason: Reason| -> bool {
        let Some(i) = next.next() else {
            decided = false;
            return false;
        };
        if group(i) != (false, false) {
            decided = false;
        }
        p.delete(i, order[i], reason);
        true
    };
    if let Some(max_bytes) = policy.max_bytes.filter(|&b| b > 0) {
        while p.used_bytes > max_bytes {
            if !take(&mut p, Reason::Size) {
                break;
            }
        }
    }
    if let Some(floor) = policy.min_free_bytes.filter(|&b| b > 0) {
        while p.free_bytes < floor {
            if !take(&mut p, Reason::FreeSpace) {
                break;
            }
        }
    }
    OldestPlan {
        deletions: p.out,
        decided,
    }
}

/// The running totals of [`plan`].
struct Planner {
    used_bytes: u64,
    free_bytes: u64,
    gone: Vec<bool>,
    out: Vec<Deletion>,
}

impl Planner {
    fn delete(&mut self, i: usize, s: &SegmentInfo, reason: Reason) {
        self.gone[i] = true;
        self.used_bytes = self.used_bytes.saturating_sub(s.size_bytes);
        self.free_bytes = self.free_bytes.saturating_add(s.size_bytes);
        self.out.push(Deletion {
            name: s.name.clone(),
            reason,
            size_bytes: s.size_bytes,
        });
    }
}

/// The oldest finished segment other than `current`, as a free-space deletion: what a
/// recorder deletes when the disk is full and its policy frees nothing (a full disk must
/// not stop recording for good). Pure.
pub fn oldest(segments: &[SegmentInfo], current: Option<&str>) -> Option<Deletion> {
    segments
        .iter()
        .filter(|s| !s.partial && Some(s.name.as_str()) != current)
        .min_by(|a, b| (a.start_ms, &a.name).cmp(&(b.start_ms, &b.name)))
        .map(|s| Deletion {
            name: s.name.clone(),
            reason: Reason::FreeSpace,
            size_bytes: s.size_bytes,
        })
}

/// How many finished segments (the most recent) the bitrate is measured over.
pub const FORECAST_RECENT_SEGMENTS: usize = 20;

/// What a status page shows about a camera's storage.
#[derive(Clone, Debug, PartialEq)]
pub struct Forecast {
    /// Bytes of all segment files (finished and partial).
    pub bytes_used: u64,
    /// Segment files (finished and partial).
    pub segment_count: usize,
    /// Media in the finished segments whose duration is known.
    pub footage_ms: i64,
    /// Recorded bytes per second of media over the most recent finished segments; `None`
    /// until one has finished.
    pub bitrate_bytes_per_sec: Option<f64>,
    /// Bytes recordings may take under the policy: the smaller of `max_bytes` and
    /// used + free − `min_free_bytes`.
    pub capacity_bytes: u64,
    /// Days of footage the policy and disk allow at that bitrate (capped by `max_age`).
    pub days_of_footage_possible: Option<f64>,
    /// Which limit decides `days_of_footage_possible` (`FreeSpace` also when the disk
    /// itself, without a floor, is the limit).
    pub limited_by: Reason,
    /// Configuration problems worth showing (e.g. a quota smaller than one segment).
    pub warnings: Vec<String>,
}

/// Storage forecast from a listing, the filesystem's free bytes and the policy.
pub fn forecast(segments: &[SegmentInfo], bytes_free: u64, policy: &RetentionPolicy) -> Forecast {
    let mut finished: Vec<&SegmentInfo> = segments
        .iter()
        .filter(|s| !s.partial && s.duration_ms.is_some_and(|d| d > 0))
        .collect();
    finished.sort_by_key(|s| s.start_ms);
    let held = Held {
        bytes: segments.iter().map(|s| s.size_bytes).sum(),
        segments: segments.len(),
        footage_ms: finished.iter().filter_map(|s| s.duration_ms).sum(),
    };
    let recent: Vec<SegmentInfo> = finished
        [finished.len().saturating_sub(FORECAST_RECENT_SEGMENTS)..]
        .iter()
        .map(|s| (*s).clone())
        .collect();
    forecast_held(&held, &recent, bytes_free, policy)
}

/// What a directory (or an index of it) holds, for [`forecast_held`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Bytes of every file, finished and partial.
    pub bytes: u64,
    /// Files.
    pub segments: usize,
    /// Media time of the finished segments.
    pub footage_ms: i64,
}

/// [`forecast`] from totals and the most recent finished segments (at most
/// [`FORECAST_RECENT_SEGMENTS`] of them, any order), for a caller that keeps totals
/// rather than listing every file.
pub fn forecast_held(
    held: &Held,
    recent: &[SegmentInfo],
    bytes_free: u64,
    policy: &RetentionPolicy,
) -> Forecast {
    let (bytes_used, footage_ms) = (held.bytes, held.footage_ms);
    let mut recent: Vec<&SegmentInfo> = recent
        .iter()
        .filter(|s| !s.partial && s.duration_ms.is_some_and(|d| d > 0))
        .collect();
    recent.sort_by_key(|s| s.start_ms);
    let recent = &recent[recent.len().saturating_sub(FORECAST_RECENT_SEGMENTS)..];
    let recent_bytes: u64 = recent.iter().map(|s| s.size_bytes).sum();
    let recent_ms: i64 = recent.iter().filter_map(|s| s.duration_ms).sum();
    let bitrate = (recent_ms > 0).then(|| recent_bytes as f64 * 1000.0 / recent_ms as f64);
    let largest = recent.iter().map(|s| s.size_bytes).max().unwrap_or(0);

    let usable = bytes_used.saturating_add(bytes_free);
    let floor = policy.min_free_bytes.unwrap_or(0);
    let disk_capacity = usable.saturating_sub(floor);
    let (mut capacity_bytes, mut limited_by) = (disk_capacity, Reason::FreeSpace);
    if let Some(max_bytes) = policy.max_bytes.filter(|&b| b > 0 && b < disk_capacity) {
        (capacity_bytes, limited_by) = (max_bytes, Reason::Size);
    }
    let mut days = bitrate.map(|b| {
        if b > 0.0 {
            capacity_bytes as f64 / b / 86_400.0
        } else {
            f64::INFINITY
        }
    });
    if let Some(max_age) = policy.max_age.filter(|d| !d.is_zero()) {
        let age_days = max_age.as_secs_f64() / 86_400.0;
        if days.is_none_or(|d| age_days < d) {
            days = days.map(|_| age_days);
            limited_by = Reason::Age;
        }
    }

    let mut warnings = Vec::new();
    if let Err(e) = policy.validate() {
        warnings.push(e.to_string());
    }
    if let Some(max_bytes) = policy.max_bytes.filter(|&b| b > 0 && b < largest) {
        warnings.push(format!(
            "max_bytes ({max_bytes}) is smaller than one segment ({largest} bytes): each \
             segment is deleted as soon as the next one finishes"
        ));
    }
    if floor > 0 && disk_capacity < largest.max(1) {
        warnings.push(format!(
            "min_free_bytes ({floor}) leaves no room for even one segment on this \
             filesystem ({usable} bytes usable)"
        ));
    }
    Forecast {
        bytes_used,
        segment_count: held.segments,
        footage_ms,
        bitrate_bytes_per_sec: bitrate,
        capacity_bytes,
        days_of_footage_possible: days,
        limited_by,
        warnings,
    }
}
