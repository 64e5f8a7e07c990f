//! The Garage harness itself: a node starts with its bucket and key, reports its
//! counters, takes a quota, and comes back on the same port and data after a stop.

use testkit::Garage;

#[test]
fn starts_stops_restarts_and_sets_quotas() {
    let Some(mut g) = Garage::start_or_skip() else {
        return;
    };
    assert!(g.key_id.starts_with("GK"), "key id {:?}", g.key_id);
    assert_eq!(g.secret.len(), 64);
    let info = g.bucket_info().unwrap();
    assert_eq!(info["objects"], 0);
    assert_eq!(info["unfinishedMultipartUploads"], 0);
    assert_eq!(info["keys"][0]["accessKeyId"], g.key_id.as_str());
    assert_eq!(info["keys"][0]["permissions"]["write"], true);

    g.set_quota(Some("1MiB"), Some(3)).unwrap();
    let info = g.bucket_info().unwrap();
    assert_eq!(info["quotas"]["maxSize"], 1 << 20);
    assert_eq!(info["quotas"]["maxObjects"], 3);

    let port = g.s3_port();
    g.stop().unwrap();
    assert!(!g.is_running());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    g.restart().unwrap();
    assert!(g.is_running());
    assert_eq!(g.s3_port(), port);
    // Same data: the quota set before the stop is still there.
    assert_eq!(g.bucket_info().unwrap()["quotas"]["maxObjects"], 3);
    g.set_quota(None, None).unwrap();
    assert!(g.bucket_info().unwrap()["quotas"]["maxSize"].is_null());
}
