//! Detection quality on the scripted clips, with exact expectations: no event on still and lighting clips over 10 minutes, one event within 0.5 s of the script for a 5 s crossing, none for motion inside an exclusion zone.

mod common;

use common::{Kind, Outcome, clip, clips, implied_by_paths, run, secs};

/// The file holds at least 20 clips, each `expect` agrees with the
/// objects' paths (within 0.5 s: the path's first point touches the
/// picture's edge, the minimum area is reached a little later, 0.4 s for
/// the smallest object), and its settings are valid.
#[test]
fn script_matches_the_paths() {
    let all = clips();
    assert!(all.len() >= 20, "{} clips", all.len());
    let mut names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "clip names are unique");
    for c in &all {
        c.settings.validate().unwrap();
        let implied = implied_by_paths(c);
        assert_eq!(implied.len(), c.expect.len(), "{}: {implied:?}", c.name);
        for (i, e) in implied.iter().zip(&c.expect) {
            assert!(
                (i.start_s - e.start_s).abs() <= 0.5 && (i.end_s - e.end_s).abs() <= 0.5,
                "{}: script says {e:?}, the paths {i:?}",
                c.name
            );
        }
    }
}

fn assert_quiet(name: &str, kinds: &[Kind]) -> Vec<Outcome> {
    let c = clip(name);
    let outcomes = run(&c, kinds);
    for (kind, o) in kinds.iter().zip(&outcomes) {
        assert_eq!(o.started, 0, "{name} {kind:?}: {:?}", o.events);
        assert_eq!(o.events, vec![], "{name} {kind:?}");
        // It really watched: all but the learning second (and settling
        // after global changes).
        let expected_frames = (c.scene.duration_s * f64::from(c.settings.analysis_fps.0)) as u64;
        assert_eq!(o.analysed, expected_frames, "{name} {kind:?}");
        assert!(
            o.watching + 5 * o.global_changes + 5 >= o.analysed,
            "{name} {kind:?}: watched {} of {}",
            o.watching,
            o.analysed
        );
    }
    outcomes
}

#[test]
fn still_scene_ten_minutes_no_event() {
    let c = clip("still-noise-10min");
    assert_eq!(c.scene.duration_s, 600.0);
    let o = assert_quiet("still-noise-10min", &[Kind::Rgb, Kind::Jpeg]);
    assert_eq!(o[0].global_changes, 0);
}

#[test]
fn brightness_steps_ten_minutes_no_event() {
    let c = clip("brightness-steps-10min");
    assert_eq!(c.scene.duration_s, 600.0);
    assert!(c.scene.lighting.len() >= 5);
    assert_quiet("brightness-steps-10min", &[Kind::Rgb, Kind::Jpeg]);
}

#[test]
fn night_switch_and_exposure_steps_no_event() {
    // The night switch is a non-linear change of the whole picture: the
    // brightness map explains most of it and the exposure step absorbs
    // the rest, so the detector keeps watching (no settling needed).
    assert_quiet("ir-night-switch", &[Kind::Rgb, Kind::Yuyv]);
    assert_quiet("auto-exposure-steps", &[Kind::Rgb]);
}

/// A person in view from 10 s to 15 s: exactly one event, start and end
/// within 0.5 s of the script, for every input kind; its thumbnail is a
/// frame inside the event with the person in its box.
#[test]
fn person_for_five_seconds_is_one_event() {
    let c = clip("person-5s");
    assert_eq!(c.expect.len(), 1);
    let (start, end) = (c.expect[0].start_s, c.expect[0].end_s);
    assert_eq!((start, end), (10.0, 15.0));
    for (kind, o) in Kind::ALL.iter().zip(run(&c, &Kind::ALL)) {
        assert_eq!(o.started, 1, "{kind:?}: {:?}", o.events);
        assert_eq!(o.events.len(), 1, "{kind:?}: {:?}", o.events);
        let e = &o.events[0];
        assert!((secs(e.start) - start).abs() <= 0.5, "{kind:?}: {e:?}");
        assert!((secs(e.end) - end).abs() <= 0.5, "{kind:?}: {e:?}");
        let thumb = e.thumbnail;
        assert!(e.start <= thumb.frame.time && thumb.frame.time <= e.end);
        assert_eq!(thumb.frame.time.0, thumb.frame.index as i64 * 100, "10 fps");
        // The person spans y 0.45..0.75 and is 0.1 wide.
        let r = thumb.region;
        assert!(
            r.y0 >= 0.4 && r.y0 <= 0.5 && r.y1 >= 0.7 && r.y1 <= 0.8,
            "{kind:?}: {r:?}"
        );
        assert!(r.x1 - r.x0 >= 0.08 && r.x1 - r.x0 <= 0.2, "{kind:?}: {r:?}");
        // Fully in view, the person is 3 % of the picture.
        assert!(
            (0.02..0.05).contains(&thumb.score),
            "{kind:?}: {}",
            thumb.score
        );
        assert_eq!(e.score, thumb.score);
        // Over the event the box spans the crossing.
        assert!(
            e.region.x0 <= 0.05 && e.region.x1 >= 0.95,
            "{kind:?}: {:?}",
            e.region
        );
    }
}

/// Traffic inside the exclusion zone only: no event. The same clip
/// without the zone has events, so the motion is there to be excluded.
#[test]
fn motion_inside_an_exclusion_zone_is_no_event() {
    assert_quiet("exclusion-only", &[Kind::Rgb, Kind::Jpeg]);
    let mut open = clip("exclusion-only");
    open.settings.exclude.clear();
    let o = run(&open, &[Kind::Rgb]);
    assert!(
        !o[0].events.is_empty(),
        "traffic without the zone is motion"
    );
}

/// Beside the zone's traffic, a person outside it is one event.
#[test]
fn person_beside_an_exclusion_zone() {
    let c = clip("exclusion-plus-person");
    let o = run(&c, &[Kind::Rgb]);
    assert_eq!(o[0].events.len(), 1, "{:?}", o[0].events);
    let e = &o[0].events[0];
    assert!(
        (secs(e.start) - 20.0).abs() <= 0.5 && (secs(e.end) - 27.0).abs() <= 0.5,
        "{e:?}"
    );
    assert!(e.region.y0 >= 0.3, "nothing from the road: {:?}", e.region);
}

/// Shorter than `min_duration`: nothing; with `min_duration = "0s"` the
/// same crossing is an event.
#[test]
fn minimum_duration() {
    let o = run(&clip("brief-blip"), &[Kind::Rgb]);
    assert_eq!(o[0].events, vec![]);
    assert_eq!(o[0].started, 0);
    let o = run(&clip("brief-blip-no-minimum"), &[Kind::Rgb]);
    assert_eq!(o[0].events.len(), 1, "{:?}", o[0].events);
}

/// Two crossings 18 s apart are two events; 2 s apart (cool-down 5 s) one.
#[test]
fn cooldown_separates_and_merges() {
    let o = run(&clip("two-people-apart"), &[Kind::Rgb]);
    let spans: Vec<(f64, f64)> = o[0]
        .events
        .iter()
        .map(|e| (secs(e.start), secs(e.end)))
        .collect();
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert!(
        (spans[0].0 - 5.0).abs() <= 0.5 && (spans[0].1 - 12.0).abs() <= 0.5,
        "{spans:?}"
    );
    assert!(
        (spans[1].0 - 30.0).abs() <= 0.5 && (spans[1].1 - 36.0).abs() <= 0.5,
        "{spans:?}"
    );
    let o = run(&clip("two-people-short-gap"), &[Kind::Rgb]);
    assert_eq!(o[0].events.len(), 1, "{:?}", o[0].events);
}

/// A light switched on in the middle of a crossing neither ends the event
/// nor starts another.
#[test]
fn lights_on_during_an_event() {
    let o = run(&clip("person-lights-on"), &[Kind::Rgb, Kind::Jpeg]);
    for o in o {
        assert_eq!(o.events.len(), 1, "{:?}", o.events);
        let e = &o.events[0];
        assert!(
            (secs(e.start) - 10.0).abs() <= 0.5 && (secs(e.end) - 20.0).abs() <= 0.5,
            "{e:?}"
        );
    }
}
