//! `hub check --offsite`: every segment the index says the bucket holds (its
//! `replication` row is `done`) is looked up in the bucket ([`offsite::Bucket::check`]):
//! missing objects, and objects whose size or SHA-256 differ from the index (with
//! `--deep`, every object is downloaded, decrypted where encrypted, and hashed); and,
//! for information, segment objects under the prefix the index does not know.

use offsite::{Bucket, CheckReport, Expected};
use rusqlite::{Connection, params};

use crate::db::{Db, DbError};

/// The objects the index expects in the bucket (segments), of `camera` or all.
pub fn expected(c: &Connection, camera: Option<&str>) -> Result<Vec<Expected>, DbError> {
    let mut st = c.prepare(
        "SELECT r.key, s.size_bytes, s.sha256 FROM replication r
         JOIN recording s ON s.id = r.recording_id
         WHERE r.kind = 'segment' AND r.state = 'done' AND (?1 IS NULL OR s.camera = ?1)
         ORDER BY r.key",
    )?;
    let rows = st
        .query_map(params![camera], |r| {
            Ok(Expected {
                key: r.get(0)?,
                size_bytes: r.get::<_, i64>(1)?.max(0) as u64,
                sha256: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// What `hub check --offsite` found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub check: CheckReport,
    /// Segment objects in the bucket that no index row names.
    pub unexpected: Vec<String>,
    pub deep: bool,
}

impl Report {
    /// Missing or corrupt objects (unexpected ones are not a problem: another hub's
    /// restore, or rows dropped here since).
    pub fn has_problems(&self) -> bool {
        !self.check.missing.is_empty() || !self.check.corrupt.is_empty()
    }

    /// One line per finding, then a summary.
    pub fn lines(&self) -> Vec<String> {
        let r = &self.check;
        let mut out = Vec::new();
        for k in &r.missing {
            out.push(format!("missing: {k}"));
        }
        for (k, why) in &r.corrupt {
            out.push(format!("corrupt: {k}: {why}"));
        }
        for k in &self.unexpected {
            out.push(format!("unexpected: {k} (not in the index)"));
        }
        out.push(format!(
            "check --offsite{}: {} objects as the index says, {} missing, {} corrupt, {} unexpected",
            if self.deep { " --deep" } else { "" },
            r.ok,
            r.missing.len(),
            r.corrupt.len(),
            self.unexpected.len()
        ));
        out
    }
}

/// Checks the bucket against the index.
pub async fn run(
    bucket: &Bucket,
    db: &Db,
    camera: Option<String>,
    deep: bool,
) -> anyhow::Result<Report> {
    let cam = camera.clone();
    let expected = db.call(move |c| expected(c, cam.as_deref())).await?;
    let check = bucket
        .check(&expected, deep)
        .await
        .map_err(|e| anyhow::anyhow!("checking the bucket: {e}"))?;
    let listed = bucket
        .list("rec", camera.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("listing the bucket: {e}"))?;
    let known: std::collections::HashSet<&str> = expected.iter().map(|e| e.key.as_str()).collect();
    let unexpected = listed
        .objects
        .into_iter()
        .map(|l| l.key)
        .filter(|k| !known.contains(k.as_str()))
        .collect();
    Ok(Report {
        check,
        unexpected,
        deep,
    })
}
