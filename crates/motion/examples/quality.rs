//! Detection quality over every scripted clip: precision and recall of event starts and ends against the script, per input kind.
//!
//! `cargo run --release -p motion --example quality [-- --clip NAME] [--kinds rgb,jpeg] [--threads N] [--tolerance 0.5]`
//!
//! Prints one line per clip and kind, then the Markdown tables of
//! BENCHMARKS.md. A start (end) is a hit when a detected event's start
//! (end) is within the tolerance of a scripted one, one to one; precision
//! = hits / detected events, recall = hits / scripted events.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Kind, Outcome, Tally, clips, run, secs, tally};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let kinds: Vec<Kind> = match opt("--kinds") {
        Some(list) => list
            .split(',')
            .map(|k| {
                *Kind::ALL
                    .iter()
                    .find(|x| x.name() == k)
                    .unwrap_or_else(|| panic!("unknown kind {k:?} (rgb, yuyv, jpeg, luma)"))
            })
            .collect(),
        None => Kind::ALL.to_vec(),
    };
    let tol: f64 = opt("--tolerance").map_or(0.5, |t| t.parse().expect("--tolerance SECONDS"));
    let threads: usize = opt("--threads").map_or(2, |t| t.parse().expect("--threads N"));
    let mut all = clips();
    if let Some(name) = opt("--clip") {
        all.retain(|c| c.name == name);
    }

    let started = std::time::Instant::now();
    let queue = std::sync::Mutex::new(all.iter().enumerate().collect::<Vec<_>>());
    let results = std::sync::Mutex::new(Vec::<(usize, Vec<Outcome>)>::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let Some((i, clip)) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let outcomes = run(clip, &kinds);
                    results.lock().unwrap().push((i, outcomes));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);

    let mut totals = vec![Tally::default(); kinds.len()];
    let mut scene_s = 0.0;
    println!("| clip | kind | script | detected | start/end hits |");
    println!("|---|---|---|---|---|");
    for (i, outcomes) in &results {
        let clip = &all[*i];
        scene_s += clip.scene.duration_s;
        let script: Vec<String> = clip
            .expect
            .iter()
            .map(|e| format!("{:.1}–{:.1}", e.start_s, e.end_s))
            .collect();
        for ((kind, o), total) in kinds.iter().zip(outcomes).zip(&mut totals) {
            let t = tally(&clip.expect, &o.events, tol);
            total.add(&t);
            let got: Vec<String> = o
                .events
                .iter()
                .map(|e| format!("{:.1}–{:.1}", secs(e.start), secs(e.end)))
                .collect();
            println!(
                "| {} | {} | {} | {} | {}/{} |",
                clip.name,
                kind.name(),
                if script.is_empty() {
                    "none".into()
                } else {
                    script.join(", ")
                },
                if got.is_empty() {
                    "none".into()
                } else {
                    got.join(", ")
                },
                t.start_hits,
                t.end_hits
            );
        }
    }
    println!();
    println!(
        "{} clips, {:.0} s of scene time, tolerance {tol} s, {:.0} s to run",
        results.len(),
        scene_s,
        started.elapsed().as_secs_f64()
    );
    println!();
    println!(
        "| input | scripted events | detected events | start precision | start recall | end precision | end recall |"
    );
    println!("|---|---|---|---|---|---|---|");
    let pct = |a: usize, b: usize| {
        if b == 0 {
            "n/a".to_string()
        } else {
            format!("{:.1} % ({a}/{b})", 100.0 * a as f64 / b as f64)
        }
    };
    for (kind, t) in kinds.iter().zip(&totals) {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            kind.name(),
            t.expected,
            t.detected,
            pct(t.start_hits, t.detected),
            pct(t.start_hits, t.expected),
            pct(t.end_hits, t.detected),
            pct(t.end_hits, t.expected)
        );
    }
}
