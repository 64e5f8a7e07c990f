//! The object-storage side of off-site copies against a real Garage on loopback
//! (`testkit::garage`): round trips, encryption, an outage, a crash mid multipart
//! upload, a full bucket, refused credentials, retention, restore and check.
//! Skipped with a message where Garage is not built (a failure in CI).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use offsite::config::Credentials;
use offsite::crypto::{Header, Key};
use offsite::{
    Bucket, DirJournal, ErrorKind, EventSpan, Expected, OffsiteConfig, SegmentRecord, UploadJournal,
};
use sha2::{Digest, Sha256};
use testkit::Garage;

const MIB: usize = 1 << 20;

fn config(g: &Garage, extra: &str) -> OffsiteConfig {
    OffsiteConfig::from_toml(&format!(
        "endpoint = \"{}\"\nregion = \"{}\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\n\
         secret_access_key_file = \"unused\"\nprefix = \"home/hub-1\"\npart_size = \"5MiB\"\n{extra}",
        g.endpoint(),
        testkit::garage::REGION,
        g.bucket,
        g.key_id
    ))
    .unwrap()
}

fn creds(g: &Garage) -> Credentials {
    Credentials {
        access_key_id: g.key_id.clone(),
        secret_access_key: g.secret.clone(),
    }
}

struct Setup {
    garage: Garage,
    dir: tempfile::TempDir,
}

impl Setup {
    fn start() -> Option<Setup> {
        Some(Setup {
            garage: Garage::start_or_skip()?,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    fn journal(&self) -> Arc<DirJournal> {
        Arc::new(DirJournal::open(&self.dir.path().join("journal")).unwrap())
    }

    fn bucket(&self, extra: &str, key: Option<Key>) -> Bucket {
        Bucket::new(
            &config(&self.garage, extra),
            creds(&self.garage),
            key,
            self.journal(),
        )
        .unwrap()
    }

    /// A file of `len` bytes that looks like video (a recognisable header, varied data).
    fn file(&self, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
        let mut data = Vec::with_capacity(len);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ len as u64;
        while data.len() < len {
            if data.len() % 4096 == 0 {
                data.extend_from_slice(b"\0\0\0\x18ftypisom moof mdat plaintext marker ");
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(len);
        let path = self.dir.path().join(name);
        std::fs::write(&path, &data).unwrap();
        (path, data)
    }
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn seg_name(i: i64) -> String {
    store::segment_name(1_800_000_000_000 + i * 60_000).unwrap()
}

fn record(camera: &str, file_name: &str, data: &[u8]) -> SegmentRecord {
    SegmentRecord {
        camera: camera.into(),
        file_name: file_name.into(),
        start_ms: store::parse_segment_name(file_name).unwrap(),
        duration_ms: 60_000,
        size_bytes: data.len() as u64,
        sha256: sha(data),
        codec: "avc1.640028".into(),
        width: 1920,
        height: 1080,
    }
}

fn info(g: &Garage, field: &str) -> u64 {
    g.bucket_info().unwrap()[field].as_u64().unwrap()
}

/// Upload (single and multipart), verify, list, range reads, idempotent re-upload,
/// check against an index, restore from day indexes and metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_verify_list_range_check_restore() {
    let Some(s) = Setup::start() else { return };
    let b = s.bucket("", None);
    let sizes = [100_000, 5 * MIB, 12 * MIB + 333];
    let mut files = Vec::new();
    for (i, len) in sizes.into_iter().enumerate() {
        let name = seg_name(i as i64);
        let (path, data) = s.file(&name, len);
        let key = b.layout().segment("porch", &name).unwrap();
        let rec = record("porch", &name, &data);
        let r = b
            .replicate_file(&key, &path, Some(&sha(&data)), Some(&rec))
            .await
            .unwrap();
        assert_eq!(r.sha256, sha(&data));
        assert_eq!((r.plain_len, r.stored_len), (len as u64, len as u64));
        // 5 MiB fits one request; 12 MiB goes in three 5 MiB parts.
        assert_eq!(r.parts, if i == 2 { 3 } else { 0 });
        assert!(r.e_tag.ends_with("-3") == (i == 2), "{}", r.e_tag);
        assert!(!r.already_present);
        files.push((key, path, data, rec));
    }
    assert_eq!(info(&s.garage, "objects"), 3);
    assert_eq!(info(&s.garage, "unfinishedMultipartUploads"), 0);

    // The store's view: the hash in metadata, the sizes.
    for (key, _, data, _) in &files {
        let o = b.head(key).await.unwrap();
        assert_eq!(o.sha256.as_deref(), Some(sha(data).as_str()));
        assert_eq!(o.stored_len, data.len() as u64);
        assert_eq!(o.sealed, None);
    }

    // Listing: the three segments, in time order, nothing foreign.
    let listing = b.list("rec", Some("porch")).await.unwrap();
    let keys: Vec<&str> = listing.objects.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(keys, files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>());
    assert_eq!(listing.objects[2].size, (12 * MIB + 333) as u64);
    assert!(listing.foreign.is_empty());

    // Ranges read back exactly (playback with Range).
    let (key, _, data, _) = &files[2];
    let o = b.head(key).await.unwrap();
    for (a, z) in [
        (0, 1),
        (0, 100),
        (5 * MIB - 10, 5 * MIB + 10),
        (data.len() - 7, data.len()),
        (0, data.len()),
    ] {
        let got = b.read_range(&o, a as u64..z as u64).await.unwrap();
        assert_eq!(&got[..], &data[a..z], "{a}..{z}");
    }
    assert_eq!(
        b.read_range(&o, 0..data.len() as u64 + 1)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Invalid
    );

    // Again (the queue retried after a crash before recording): nothing sent twice.
    let sent = b
        .traffic()
        .body_bytes_sent
        .load(std::sync::atomic::Ordering::Relaxed);
    let again = b
        .replicate_file(&files[2].0, &files[2].1, None, None)
        .await
        .unwrap();
    assert!(again.already_present);
    assert_eq!(
        b.traffic()
            .body_bytes_sent
            .load(std::sync::atomic::Ordering::Relaxed),
        sent
    );
    assert_eq!(info(&s.garage, "objects"), 3);

    // A file that differs from the index is not uploaded.
    let e = b
        .replicate_file(&files[0].0, &files[0].1, Some(&"00".repeat(32)), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Local);

    // Check against the index: all fine, then one gone and one replaced.
    let expected: Vec<Expected> = files
        .iter()
        .map(|(k, _, d, _)| Expected {
            key: k.clone(),
            size_bytes: d.len() as u64,
            sha256: sha(d),
        })
        .collect();
    let report = b.check(&expected, true).await.unwrap();
    assert_eq!(
        (report.ok, report.missing.len(), report.corrupt.len()),
        (3, 0, 0)
    );
    b.delete(std::slice::from_ref(&files[0].0)).await.unwrap();
    b.replicate_bytes(&files[1].0, Bytes::from_static(b"not the segment"), None)
        .await
        .unwrap();
    let report = b.check(&expected, true).await.unwrap();
    assert_eq!(report.ok, 1);
    assert_eq!(report.missing, vec![files[0].0.clone()]);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].0, files[1].0);

    // Restore: segment 2 from a day index, the others (re-uploaded) from metadata.
    for (key, path, data, rec) in &files[..2] {
        b.replicate_file(key, path, Some(&sha(data)), Some(rec))
            .await
            .unwrap();
    }
    let day = offsite::layout::day_of(files[2].3.start_ms).unwrap();
    b.write_day_index("porch", &day, vec![files[2].3.clone()])
        .await
        .unwrap();
    let restored = b.restore(None).await.unwrap();
    assert_eq!(
        restored.segments,
        files.iter().map(|f| f.3.clone()).collect::<Vec<_>>()
    );
    assert!(restored.without_record.is_empty() && restored.foreign.is_empty());

    // A second hub, read-only on the same bucket and prefix, lists and plays.
    let ro = s.bucket("read_only = true", None);
    assert_eq!(ro.restore(Some("porch")).await.unwrap().segments.len(), 3);
    let o = ro.head(&files[2].0).await.unwrap();
    assert_eq!(
        &ro.read_range(&o, 10..20).await.unwrap()[..],
        &files[2].2[10..20]
    );
    let e = ro
        .replicate_file(&files[0].0, &files[0].1, None, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(
        ro.delete(std::slice::from_ref(&files[0].0))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Invalid
    );
}

/// Sealed objects: the bucket holds no plaintext; ranges decrypt to the local bytes;
/// another key or no key is refused as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_objects() {
    let Some(s) = Setup::start() else { return };
    let key = Key::from_bytes([0x42; 32]);
    let b = s.bucket("", Some(key.clone()));
    let mut objs = Vec::new();
    for (i, len) in [3000, 11 * MIB + 5].into_iter().enumerate() {
        let name = seg_name(i as i64);
        let (path, data) = s.file(&name, len);
        let k = b.layout().segment("garden", &name).unwrap();
        let r = b
            .replicate_file(&k, &path, None, Some(&record("garden", &name, &data)))
            .await
            .unwrap();
        let sealed_len = Header::new(&key, [0; 16]).sealed_len(len as u64);
        assert_eq!((r.plain_len, r.stored_len), (len as u64, sealed_len));
        objs.push((k, data));
    }
    for (k, data) in &objs {
        let stored = b.read_stored(k).await.unwrap();
        assert_eq!(&stored[..4], b"CSOE");
        assert!(
            !stored
                .windows(b"plaintext marker".len())
                .any(|w| w == b"plaintext marker")
        );
        assert!(!stored.windows(32).any(|w| w == &data[100..132]));
        let o = b.head(k).await.unwrap();
        assert_eq!(o.plain_len, data.len() as u64);
        assert!(o.sealed.is_some());
        let n = data.len();
        for (a, z) in [
            (0, 1),
            (0, n),
            (65_535, 65_537),
            (n / 2, n / 2 + 100_000.min(n / 2)),
            (n - 3, n),
        ]
        .into_iter()
        .filter(|&(_, z)| z <= n)
        {
            let got = b.read_range(&o, a as u64..z as u64).await.unwrap();
            assert_eq!(&got[..], &data[a..z], "{k} {a}..{z}");
        }
    }
    let expected: Vec<Expected> = objs
        .iter()
        .map(|(k, d)| Expected {
            key: k.clone(),
            size_bytes: d.len() as u64,
            sha256: sha(d),
        })
        .collect();
    assert_eq!(b.check(&expected, true).await.unwrap().ok, 2);
    // Restore reads the (sealed) day index and metadata records.
    assert_eq!(b.restore(None).await.unwrap().segments.len(), 2);

    let other = s.bucket("", Some(Key::from_bytes([7; 32])));
    let e = other.read_all(&objs[0].0).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthRefused, "{e}");
    assert!(e.to_string().contains("another key"), "{e}");
    let none = s.bucket("", None);
    assert_eq!(
        none.read_all(&objs[0].0).await.unwrap_err().kind(),
        ErrorKind::AuthRefused
    );
}

/// Garage stopped in the middle of a batch: the rest fail as retry-later and none
/// counts as done; once it is back each goes up once, the earlier ones are not resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_then_everything_once() {
    let Some(mut s) = Setup::start() else { return };
    let b = s.bucket("", None);
    let batch: Vec<(String, PathBuf, Vec<u8>)> = (0..6)
        .map(|i| {
            let name = seg_name(i);
            let (p, d) = s.file(&name, 200_000 + i as usize);
            (b.layout().segment("porch", &name).unwrap(), p, d)
        })
        .collect();
    let mut done: Vec<String> = Vec::new();
    for (k, p, _) in &batch[..2] {
        done.push(b.replicate_file(k, p, None, None).await.unwrap().key);
    }
    s.garage.stop().unwrap();
    for (k, p, _) in &batch[2..] {
        let e = b.replicate_file(k, p, None, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RetryLater, "{e}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let g = &mut s.garage;
    tokio::task::block_in_place(|| g.restart()).unwrap();
    assert_eq!(info(&s.garage, "objects"), 2);
    for (k, p, _) in &batch[2..] {
        let r = b.replicate_file(k, p, None, None).await.unwrap();
        assert!(!r.already_present);
        done.push(r.key);
    }
    assert_eq!(done.len(), 6);
    assert_eq!(info(&s.garage, "objects"), 6);
    assert_eq!(b.list("rec", None).await.unwrap().objects.len(), 6);
    for (k, _, d) in &batch {
        assert_eq!(&b.read_all(k).await.unwrap()[..], &d[..]);
    }
}

/// The uploader dropped after some parts of a multipart upload (what kill -9 leaves):
/// the upload is on record, nothing is in the bucket; the next run resumes the same
/// upload, sends only the missing parts, and leaves no multipart upload behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_multipart_resumes_without_duplicate() {
    let Some(s) = Setup::start() else { return };
    let key = Key::from_bytes([9; 32]);
    // 20 MiB/s: each 5 MiB part takes a quarter second, time to stop between parts.
    let slow = Arc::new(s.bucket("max_upload_rate = \"20MiB/s\"", Some(key.clone())));
    let name = seg_name(0);
    let (path, data) = s.file(&name, 21 * MIB);
    let k = slow.layout().segment("porch", &name).unwrap();
    let journal = s.journal();
    let task = {
        let (b, k, path) = (slow.clone(), k.clone(), path.clone());
        tokio::spawn(async move { b.replicate_file(&k, &path, None, None).await })
    };
    let parts_sent = loop {
        let st = journal.load(&k).unwrap();
        if let Some(st) = st.filter(|st| st.parts.len() >= 2) {
            task.abort();
            break st.parts.len();
        }
        assert!(
            !task.is_finished(),
            "the upload finished before it could be cut"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let _ = task.await;
    drop(slow);
    let state = journal.load(&k).unwrap().expect("the upload is on record");
    assert!(state.parts.len() >= parts_sent);
    assert_eq!(info(&s.garage, "objects"), 0);
    assert_eq!(info(&s.garage, "unfinishedMultipartUploads"), 1);

    // The next run (a new handle, as after a restart) resumes.
    let b = s.bucket("", Some(key));
    let r = b
        .replicate_file(&k, &path, Some(&sha(&data)), None)
        .await
        .unwrap();
    assert_eq!(r.parts, 5);
    assert_eq!(r.resumed_parts as usize, state.parts.len());
    assert!(!r.already_present);
    assert_eq!(journal.load(&k).unwrap(), None);
    assert_eq!(info(&s.garage, "objects"), 1);
    assert_eq!(info(&s.garage, "unfinishedMultipartUploads"), 0);
    assert_eq!(b.list("rec", None).await.unwrap().objects.len(), 1);
    assert_eq!(&b.read_all(&k).await.unwrap()[..], &data[..]);

    // An upload the store has forgotten (cleaned up while the hub was down) restarts.
    let name2 = seg_name(1);
    let (path2, data2) = s.file(&name2, 11 * MIB);
    let k2 = b.layout().segment("porch", &name2).unwrap();
    let mut forgotten = state.clone();
    forgotten.key = k2.clone();
    forgotten.upload_id = "no-such-upload".into();
    forgotten.sha256 = sha(&data2);
    forgotten.plain_len = data2.len() as u64;
    forgotten.stored_len =
        Header::new(&Key::from_bytes([9; 32]), [0; 16]).sealed_len(data2.len() as u64);
    forgotten.parts.truncate(1);
    journal.save(&forgotten).unwrap();
    let r = b.replicate_file(&k2, &path2, None, None).await.unwrap();
    assert_eq!((r.parts, r.resumed_parts), (3, 0));
    assert_eq!(&b.read_all(&k2).await.unwrap()[..], &data2[..]);
    assert_eq!(info(&s.garage, "unfinishedMultipartUploads"), 0);
}

/// A full bucket is reported as such, for single and multipart uploads and for an
/// object-count quota; the local file stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_reached() {
    let Some(s) = Setup::start() else { return };
    let b = s.bucket("", None);
    s.garage.set_quota(Some("1MiB"), None).unwrap();
    let (small, _) = s.file(&seg_name(0), 2 * MIB);
    let k = b.layout().segment("porch", &seg_name(0)).unwrap();
    let e = b.replicate_file(&k, &small, None, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaReached, "{e}");
    let (big, _) = s.file(&seg_name(1), 11 * MIB);
    let k = b.layout().segment("porch", &seg_name(1)).unwrap();
    let e = b.replicate_file(&k, &big, None, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaReached, "{e}");
    assert!(e.to_string().contains("quota is reached"), "{e}");
    assert!(small.exists() && big.exists());
    // Garage drops a multipart upload whose completion it refused; the journal still
    // names it, so with room again the upload finds it gone and starts over cleanly.
    assert_eq!(info(&s.garage, "unfinishedMultipartUploads"), 0);
    s.garage.set_quota(None, None).unwrap();
    let r = b.replicate_file(&k, &big, None, None).await.unwrap();
    assert_eq!((r.parts, r.resumed_parts), (3, 0));
    assert_eq!(info(&s.garage, "unfinishedMultipartUploads"), 0);
    b.delete(&[k]).await.unwrap();

    s.garage.set_quota(None, Some(1)).unwrap();
    let (a, _) = s.file(&seg_name(2), 1000);
    let (c, _) = s.file(&seg_name(3), 1000);
    b.replicate_file(
        &b.layout().segment("porch", &seg_name(2)).unwrap(),
        &a,
        None,
        None,
    )
    .await
    .unwrap();
    let e = b
        .replicate_file(
            &b.layout().segment("porch", &seg_name(3)).unwrap(),
            &c,
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaReached, "{e}");
}

/// Refused credentials: a wrong secret, an unknown key id, a key not allowed on the
/// bucket. Each is auth-refused, for writes, reads and listings; nothing local goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_auth_refused() {
    let Some(s) = Setup::start() else { return };
    let good = s.bucket("", None);
    let (path, _) = s.file(&seg_name(0), 1000);
    let k = good.layout().segment("porch", &seg_name(0)).unwrap();
    good.replicate_file(&k, &path, None, None).await.unwrap();
    let (stranger_id, stranger_secret) = s.garage.create_key("stranger").unwrap();
    let cases = [
        (s.garage.key_id.clone(), "0".repeat(64)),
        (
            "GK000000000000000000000000".to_owned(),
            s.garage.secret.clone(),
        ),
        (stranger_id, stranger_secret),
    ];
    for (id, secret) in cases {
        let cfg = config(&s.garage, "").clone();
        let cfg = OffsiteConfig {
            access_key_id: id.clone(),
            ..cfg
        };
        let b = Bucket::new(
            &cfg,
            Credentials {
                access_key_id: id.clone(),
                secret_access_key: secret,
            },
            None,
            s.journal(),
        )
        .unwrap();
        let e = b.replicate_file(&k, &path, None, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AuthRefused, "{id}: {e}");
        assert!(
            !e.to_string().contains(&s.garage.secret),
            "the secret leaked: {e}"
        );
        assert_eq!(
            b.list("rec", None).await.unwrap_err().kind(),
            ErrorKind::AuthRefused,
            "{id}"
        );
        assert_eq!(
            b.head(&k).await.unwrap_err().kind(),
            ErrorKind::AuthRefused,
            "{id}"
        );
    }
    assert!(path.exists());
    assert_eq!(info(&s.garage, "objects"), 1);
}

/// The bucket's retention deletes by age from the key times, keeps event footage longer,
/// then by size, and drops day indexes left without segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_retention() {
    let Some(s) = Setup::start() else { return };
    let b = s.bucket("", None);
    const DAY: i64 = 86_400_000;
    let now = 1_800_000_000_000 + 40 * DAY;
    // One segment a day for 40 days (day 0 is the oldest); an event on day 3.
    let mut keys = Vec::new();
    for d in 0..40 {
        let name = store::segment_name(1_800_000_000_000 + d * DAY).unwrap();
        let (p, data) = s.file(&name, 1000);
        let k = b.layout().segment("porch", &name).unwrap();
        b.replicate_file(&k, &p, None, Some(&record("porch", &name, &data)))
            .await
            .unwrap();
        keys.push(k);
    }
    let ev_start = 1_800_000_000_000 + 3 * DAY + 1000;
    let ev = b.layout().event("porch", ev_start, "motion-1").unwrap();
    b.replicate_bytes(&ev, Bytes::from_static(b"{\"kind\":\"motion\"}"), None)
        .await
        .unwrap();
    let day0 = offsite::layout::day_of(1_800_000_000_000).unwrap();
    let rec0 = b.restore(None).await.unwrap().segments[0].clone();
    b.write_day_index("porch", &day0, vec![rec0]).await.unwrap();
    let policy = offsite::config::BucketRetention {
        max_age: Some(offsite::config::Dur::from_secs(30 * 86_400)),
        max_size: None,
        event_max_age: Some(offsite::config::Dur::from_secs(365 * 86_400)),
    };
    let events = [EventSpan {
        camera: "porch".into(),
        start_ms: ev_start,
        end_ms: ev_start + 30_000,
    }];
    let deleted = b.apply_retention(&policy, &events, now).await.unwrap();
    // Days 0..=9 are older than 30 days; day 3 holds the event.
    let mut expected: Vec<String> = (0..10)
        .filter(|d| *d != 3)
        .map(|d| keys[d].clone())
        .collect();
    expected.push(b.layout().day_index("porch", &day0).unwrap());
    assert_eq!(deleted, expected);
    let left: Vec<String> = b
        .list("rec", None)
        .await
        .unwrap()
        .objects
        .into_iter()
        .map(|l| l.key)
        .collect();
    let mut want: Vec<String> = keys[10..].to_vec();
    want.insert(0, keys[3].clone());
    assert_eq!(left, want);
    assert_eq!(b.list("events", None).await.unwrap().objects.len(), 1);
    assert!(b.list("index", None).await.unwrap().objects.is_empty());

    // Size: 31 segments of 1000 bytes and a 17-byte event, at most 10,000 bytes:
    // the 22 oldest ordinary segments go, the event footage stays.
    let policy = offsite::config::BucketRetention {
        max_size: Some(offsite::config::ByteSize(10_000)),
        ..policy
    };
    let deleted = b.apply_retention(&policy, &events, now).await.unwrap();
    assert_eq!(deleted, keys[10..32].to_vec());
    assert_eq!(b.list("rec", None).await.unwrap().objects.len(), 9);
}
