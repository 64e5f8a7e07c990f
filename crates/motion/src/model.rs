//! The per-cell background model: brightness normalisation, noise thresholds, the cleaned motion mask and its regions.
//!
//! Everything here works on the small grid of block means (about 80x60
//! cells), so its cost per frame is a few thousand cells' arithmetic,
//! whatever the picture size; see the crate's design note for the why.

use crate::{Millis, Rect};

/// Background time constant for cells without motion.
const TAU_BG_MS: f32 = 5_000.0;
/// Background time constant under motion: something that stops and stays
/// becomes background in about a minute.
const TAU_FG_MS: f32 = 30_000.0;
/// Time constant of each cell's noise estimate.
const TAU_NOISE_MS: f32 = 10_000.0;
/// Learning period after the first frame (and after a gap or a reset).
pub const LEARN_MS: i64 = 1_000;
/// At least this many frames are learned from.
const LEARN_FRAMES: u32 = 3;
/// After a global change the model relearns for this long.
pub const SETTLE_MS: i64 = 1_000;
/// More than this share of the (non-excluded) cells changed at once, after
/// brightness normalisation, is a global change, not motion.
const GLOBAL_CHANGE_FRACTION: f32 = 0.5;
/// Floor of a cell's noise estimate, in luma levels (mean absolute
/// residual): block means of a clean picture still carry quantisation.
const NOISE_FLOOR: f32 = 0.5;
/// A frame whose brightness map differs from identity by more than this
/// gain or offset (luma levels) is an exposure step (see
/// `absorb_unexplained`); slow ramps stay below it frame to frame.
const EXPOSURE_STEP_GAIN: f32 = 0.02;
const EXPOSURE_STEP_OFFSET: f32 = 2.0;
/// Block means at or beyond these are taken as clipped by the sensor
/// (limited-range luma, YUYV and H.264, ends at 235 and 16; a block mean
/// near the end has clipped pixels in it).
const CLIP_HIGH: f32 = 234.0;
const CLIP_LOW: f32 = 17.0;
/// Starting noise estimate of a cell.
const NOISE_START: f32 = 1.0;
/// Ridge weight pulling the brightness gain towards 1 (in luma levels
/// squared per cell): a flat, textureless picture says little about gain.
const GAIN_RIDGE: f32 = 16.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clip {
    None,
    High,
    Low,
}

/// Thresholds derived from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Smallest residual (luma levels) that can mark a cell as changed.
    pub min_delta: f32,
    /// Residual must exceed this many times the cell's noise.
    pub noise_factor: f32,
    /// Cells a region needs to count while no event is open...
    pub min_cells_start: usize,
    /// ...and while one is (hysteresis).
    pub min_cells_continue: usize,
}

/// What the model saw in one frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// Learning the background (start, gap, new picture size).
    Learning,
    /// Relearning after a global change (brightness step, IR switch).
    Settling { global_change: bool },
    /// Watching: the regions that count, if any.
    Watching(Option<Found>),
}

/// Motion found in one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Cells in regions that count.
    pub cells: usize,
    /// Their share of all cells of the picture.
    pub fraction: f32,
    /// Bounding box of those regions, normalized.
    pub region: Rect,
    /// Of those cells, how many lie in each named detection zone (empty
    /// when the camera has none).
    pub by_zone: Vec<u32>,
}

/// The model for one picture size.
#[derive(Debug, Clone)]
pub struct Model {
    cols: usize,
    rows: usize,
    excluded: Vec<bool>,
    /// Each cell's detection zone, 1-based (0: none); empty without zones.
    zone_of: Vec<u8>,
    zones: usize,
    usable_cells: usize,
    /// Background, in the exposure of the last frame seen.
    bg: Vec<f32>,
    /// The background was learned from a clipped value, so it is only a
    /// bound: the scene there may be brighter (`High`) or darker (`Low`).
    clip: Vec<Clip>,
    noise: Vec<f32>,
    /// Dilated motion mask of the previous frame (kept out of the fit and
    /// updated slowly).
    fg: Vec<bool>,
    learned_frames: u32,
    learn_until: Millis,
    settle_until: Millis,
    last: Millis,
    // Scratch buffers, kept to avoid allocating per frame.
    cur: Vec<f32>,
    resid: Vec<f32>,
    changed: Vec<bool>,
    kept: Vec<bool>,
    label: Vec<u32>,
    /// Per label: whether its region counts.
    counted: Vec<bool>,
    stack: Vec<usize>,
    scratch: Vec<f32>,
}

impl Model {
    /// A model for a `cols` x `rows` grid; `excluded[i]` cells never count;
    /// `zone_of[i]` is cell `i`'s detection zone, 1-based (0: none), or
    /// empty when the camera has no zones.
    pub fn new(
        cols: usize,
        rows: usize,
        excluded: Vec<bool>,
        zone_of: Vec<u8>,
        now: Millis,
    ) -> Model {
        let n = cols * rows;
        debug_assert_eq!(excluded.len(), n);
        debug_assert!(zone_of.is_empty() || zone_of.len() == n);
        let zones = zone_of.iter().copied().max().map_or(0, usize::from);
        let usable_cells = excluded.iter().filter(|&&e| !e).count();
        Model {
            cols,
            rows,
            excluded,
            zone_of,
            zones,
            usable_cells,
            bg: vec![0.0; n],
            clip: vec![Clip::None; n],
            noise: vec![NOISE_START; n],
            fg: vec![false; n],
            learned_frames: 0,
            learn_until: Millis(now.0 + LEARN_MS),
            settle_until: now,
            last: now,
            cur: vec![0.0; n],
            resid: vec![0.0; n],
            changed: vec![false; n],
            kept: vec![false; n],
            label: vec![0; n],
            counted: Vec::new(),
            stack: Vec::new(),
            scratch: Vec::with_capacity(n),
        }
    }

    pub fn dims(&self) -> (usize, usize) {
        (self.cols, self.rows)
    }

    /// Time of the last frame seen.
    pub fn last(&self) -> Millis {
        self.last
    }

    /// Start learning again from the next frame.
    pub fn relearn(&mut self, now: Millis) {
        self.learned_frames = 0;
        self.learn_until = Millis(now.0 + LEARN_MS);
        self.fg.fill(false);
    }

    /// Feed one grid (means x 16) at `now`.
    pub fn step(&mut self, cells: &[u16], now: Millis, p: &Params, continuing: bool) -> Seen {
        let dt = (now.0 - self.last.0).clamp(1, 10_000) as f32;
        self.last = now;
        for (c, &v) in self.cur.iter_mut().zip(cells) {
            *c = f32::from(v) / 16.0;
        }

        if self.learned_frames == 0 {
            self.take_background();
            self.learned_frames = 1;
            return Seen::Learning;
        }
        // Bring the whole background to this frame's exposure first, so
        // cells updated at different rates never disagree about it.
        let (a, b) = self.fit_brightness();
        self.apply_brightness(a, b);
        self.residuals();

        if self.learned_frames < LEARN_FRAMES || now < self.learn_until {
            // Learn fast: background and noise follow the frames closely.
            self.learned_frames += 1;
            for i in 0..self.cur.len() {
                let r = self.resid[i].abs();
                self.noise[i] = (self.noise[i] + 0.5 * (r - self.noise[i])).max(NOISE_FLOOR);
            }
            self.follow(0.5, 0.5);
            return Seen::Learning;
        }

        self.mark_changed(p);
        let changed = self.changed.iter().filter(|&&c| c).count();
        let global = self.usable_cells > 0
            && changed as f32 > GLOBAL_CHANGE_FRACTION * self.usable_cells as f32;
        if global {
            self.settle_until = Millis(now.0 + SETTLE_MS);
        }
        if global || now < self.settle_until {
            // The picture as a whole changed: take it as the background.
            self.take_background();
            self.fg.fill(false);
            return Seen::Settling {
                global_change: global,
            };
        }

        if (a - 1.0).abs() > EXPOSURE_STEP_GAIN || b.abs() > EXPOSURE_STEP_OFFSET {
            self.absorb_unexplained();
        }
        self.clean_mask();
        let min_cells = if continuing {
            p.min_cells_continue
        } else {
            p.min_cells_start
        };
        let found = self.regions(min_cells);
        self.update(dt);
        Seen::Watching(found)
    }

    /// Least-squares `cur ≈ a·bg + b` over usable cells, twice: the second
    /// time without the cells the first fit explains worst (moving things).
    fn fit_brightness(&mut self) -> (f32, f32) {
        let usable = |m: &Model, i: usize| !m.excluded[i] && !m.fg[i];
        let (a, b) = self.fit_where(|m, i| usable(m, i));
        for i in 0..self.cur.len() {
            self.resid[i] = self.cur[i] - (a * self.bg[i] + b);
        }
        self.scratch.clear();
        for i in 0..self.cur.len() {
            if usable(self, i) {
                self.scratch.push(self.resid[i].abs());
            }
        }
        if self.scratch.len() < 16 {
            return (a, b);
        }
        let mid = self.scratch.len() / 2;
        let mad = *self.scratch.select_nth_unstable_by(mid, f32::total_cmp).1;
        let cut = (3.0 * 1.4826 * mad).max(4.0);
        self.fit_where(|m, i| usable(m, i) && m.resid[i].abs() < cut)
    }

    fn fit_where(&self, keep: impl Fn(&Model, usize) -> bool) -> (f32, f32) {
        // Clipped cells say nothing about gain: leave them out.
        let keep = |m: &Model, i: usize| {
            let (g, c) = (m.bg[i], m.cur[i]);
            m.clip[i] == Clip::None
                && g > CLIP_LOW
                && g < CLIP_HIGH
                && c > CLIP_LOW
                && c < CLIP_HIGH
                && keep(m, i)
        };
        let (mut n, mut sg, mut sc) = (0f32, 0f32, 0f32);
        for i in 0..self.cur.len() {
            if keep(self, i) {
                n += 1.0;
                sg += self.bg[i];
                sc += self.cur[i];
            }
        }
        if n < 16.0 {
            return (1.0, 0.0);
        }
        let (mg, mc) = (sg / n, sc / n);
        let (mut sgg, mut sgc) = (0f32, 0f32);
        for i in 0..self.cur.len() {
            if keep(self, i) {
                let (dg, dc) = (self.bg[i] - mg, self.cur[i] - mc);
                sgg += dg * dg;
                sgc += dg * dc;
            }
        }
        let ridge = GAIN_RIDGE * n;
        let a = ((sgc + ridge) / (sgg + ridge)).clamp(0.2, 5.0);
        (a, mc - a * mg)
    }

    /// `bg = a·bg + b` for every cell. A cell the map pushes past a clip
    /// level cannot be predicted (part of its block may now be clipped,
    /// part not), so it takes the current value instead.
    fn apply_brightness(&mut self, a: f32, b: f32) {
        for i in 0..self.bg.len() {
            let g = self.bg[i];
            let p = a * g + b;
            if (g < CLIP_HIGH && p > CLIP_HIGH + 2.0) || (g > CLIP_LOW && p < CLIP_LOW - 2.0) {
                self.bg[i] = self.cur[i];
                self.clip[i] = Clip::of(self.cur[i]);
            } else {
                self.bg[i] = p.clamp(0.0, 255.0);
            }
        }
    }

    /// `cur - bg`, where a clipped background is only a bound: behind a
    /// background learned at the white clip the scene may be brighter than
    /// it showed (a window that a darker exposure reveals), so a current
    /// value above it is no change, and replaces it; likewise below a
    /// background learned at the black clip.
    fn residuals(&mut self) {
        for i in 0..self.cur.len() {
            let r = self.cur[i] - self.bg[i];
            let revealed = match self.clip[i] {
                Clip::High => r > 0.0,
                Clip::Low => r < 0.0,
                Clip::None => false,
            };
            if revealed {
                self.bg[i] = self.cur[i];
                self.clip[i] = Clip::of(self.cur[i]);
                self.resid[i] = 0.0;
            } else {
                self.resid[i] = r;
            }
        }
    }

    /// The current picture becomes the background.
    fn take_background(&mut self) {
        self.bg.copy_from_slice(&self.cur);
        for (c, &v) in self.clip.iter_mut().zip(&self.cur) {
            *c = Clip::of(v);
        }
    }

    /// Move each cell's background towards the picture by `quiet` (by
    /// `moving` where the last mask had motion); a quiet cell seen clipped keeps that as its bound. A moving cell's
    /// clipped value is the moving thing's (a white car, a headlight), not a
    /// bound of the background behind it: taken as one, the background would
    /// jump to the thing and leave a ghost where it passed.
    fn follow(&mut self, quiet: f32, moving: f32) {
        for i in 0..self.cur.len() {
            let rate = if self.fg[i] { moving } else { quiet };
            self.bg[i] += rate * (self.cur[i] - self.bg[i]);
            if self.fg[i] {
                continue;
            }
            match Clip::of(self.cur[i]) {
                Clip::None => {
                    if self.clip[i] != Clip::None && (self.cur[i] - self.bg[i]).abs() < 2.0 {
                        self.clip[i] = Clip::None;
                    }
                }
                seen => self.clip[i] = seen,
            }
        }
    }

    fn mark_changed(&mut self, p: &Params) {
        for i in 0..self.cur.len() {
            let threshold = p.min_delta.max(p.noise_factor * self.noise[i]);
            self.changed[i] = !self.excluded[i] && self.resid[i].abs() > threshold;
        }
    }

    /// At an exposure step, a cell that was quiet and now disagrees with
    /// the brightness map is the map's failure (clipping inside the block,
    /// a colour channel saturating, a lamp's own pool of light), not
    /// motion: it takes the current value. Cells that were moving keep
    /// their prediction, so a moving thing stays moving through the step.
    fn absorb_unexplained(&mut self) {
        for i in 0..self.cur.len() {
            if self.changed[i] && !self.fg[i] {
                self.changed[i] = false;
                self.resid[i] = 0.0;
                self.bg[i] = self.cur[i];
                self.clip[i] = Clip::of(self.cur[i]);
            }
        }
    }

    /// Drop speckle: a changed cell stays only with two or more changed
    /// neighbours (of eight).
    fn clean_mask(&mut self) {
        let (w, h) = (self.cols, self.rows);
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if !self.changed[i] {
                    self.kept[i] = false;
                    continue;
                }
                let mut n = 0;
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        n += usize::from(self.changed[yy * w + xx]);
                    }
                }
                // `n` counts the cell itself too.
                self.kept[i] = n > 2;
            }
        }
    }

    /// Group kept cells into regions (8-connected after a one-cell
    /// dilation, so a body split by a one-cell gap stays one region); sum
    /// the regions of at least `min_cells` kept cells. Also leaves the
    /// dilated mask in `fg` for the update.
    fn regions(&mut self, min_cells: usize) -> Option<Found> {
        let (w, h) = (self.cols, self.rows);
        // Dilate kept into fg.
        for y in 0..h {
            for x in 0..w {
                let mut any = false;
                'n: for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        if self.kept[yy * w + xx] {
                            any = true;
                            break 'n;
                        }
                    }
                }
                self.fg[y * w + x] = any;
            }
        }
        self.label.fill(0);
        self.counted.clear();
        self.counted.push(false); // label 0: no region
        let mut next = 0u32;
        let mut total = 0usize;
        let mut bbox: Option<(usize, usize, usize, usize)> = None;
        for start in 0..w * h {
            if !self.fg[start] || self.label[start] != 0 {
                continue;
            }
            next += 1;
            self.label[start] = next;
            self.stack.clear();
            self.stack.push(start);
            let (mut cells, mut x0, mut y0, mut x1, mut y1) = (0, usize::MAX, usize::MAX, 0, 0);
            while let Some(i) = self.stack.pop() {
                let (x, y) = (i % w, i / w);
                if self.kept[i] {
                    cells += 1;
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                }
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        let j = yy * w + xx;
                        if self.fg[j] && self.label[j] == 0 {
                            self.label[j] = next;
                            self.stack.push(j);
                        }
                    }
                }
            }
            let counts = cells >= min_cells.max(1);
            self.counted.push(counts);
            if counts {
                total += cells;
                bbox = Some(match bbox {
                    None => (x0, y0, x1, y1),
                    Some((a, b, c, d)) => (a.min(x0), b.min(y0), c.max(x1), d.max(y1)),
                });
            }
        }
        let (x0, y0, x1, y1) = bbox?;
        let mut by_zone = vec![0u32; self.zones];
        if self.zones > 0 {
            for i in 0..w * h {
                let zone = usize::from(self.zone_of[i]);
                if self.kept[i] && zone > 0 && self.counted[self.label[i] as usize] {
                    by_zone[zone - 1] += 1;
                }
            }
        }
        Some(Found {
            cells: total,
            fraction: total as f32 / (w * h) as f32,
            region: Rect {
                x0: x0 as f32 / w as f32,
                y0: y0 as f32 / h as f32,
                x1: (x1 + 1) as f32 / w as f32,
                y1: (y1 + 1) as f32 / h as f32,
            },
            by_zone,
        })
    }

    /// Background follows the picture (slowly under motion); each quiet
    /// cell's noise estimate follows its residual.
    fn update(&mut self, dt_ms: f32) {
        let a_bg = 1.0 - (-dt_ms / TAU_BG_MS).exp();
        let a_fg = 1.0 - (-dt_ms / TAU_FG_MS).exp();
        let a_noise = 1.0 - (-dt_ms / TAU_NOISE_MS).exp();
        for i in 0..self.cur.len() {
            if !self.fg[i] {
                let r = self.resid[i].abs();
                self.noise[i] = (self.noise[i] + a_noise * (r - self.noise[i])).max(NOISE_FLOOR);
            }
        }
        self.follow(a_bg, a_fg);
    }
}

impl Clip {
    fn of(v: f32) -> Clip {
        if v >= CLIP_HIGH {
            Clip::High
        } else if v <= CLIP_LOW {
            Clip::Low
        } else {
            Clip::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            min_delta: 10.0,
            noise_factor: 4.0,
            min_cells_start: 4,
            min_cells_continue: 2,
        }
    }

    fn flat(cols: usize, rows: usize, v: u16) -> Vec<u16> {
        vec![v * 16; cols * rows]
    }

    fn learned(cols: usize, rows: usize, grid: &[u16]) -> Model {
        let mut m = Model::new(cols, rows, vec![false; cols * rows], Vec::new(), Millis(0));
        let mut t = 0;
        while t < LEARN_MS {
            assert_eq!(m.step(grid, Millis(t), &params(), false), Seen::Learning);
            t += 200;
        }
        m
    }

    /// A textured background with a bright square on it: the square is
    /// found with its box; a uniform gain on everything is not motion.
    #[test]
    fn square_found_gain_ignored() {
        let (w, h) = (40, 30);
        let bg: Vec<u16> = (0..w * h)
            .map(|i| (40 + (i * 7) % 100) as u16 * 16)
            .collect();
        let mut m = learned(w, h, &bg);
        let mut t = 1_200;
        let mut step = |m: &mut Model, g: &[u16]| {
            t += 200;
            m.step(g, Millis(t), &params(), false)
        };
        assert_eq!(step(&mut m, &bg), Seen::Watching(None));
        let mut with = bg.clone();
        for y in 10..16 {
            for x in 20..24 {
                with[y * w + x] = 250 * 16;
            }
        }
        let Seen::Watching(Some(found)) = step(&mut m, &with) else {
            panic!("square not found");
        };
        assert_eq!(found.cells, 24);
        assert_eq!(
            found.region,
            Rect {
                x0: 0.5,
                y0: 10.0 / 30.0,
                x1: 0.6,
                y1: 16.0 / 30.0
            }
        );
        assert!(found.by_zone.is_empty());
        assert_eq!(step(&mut m, &bg), Seen::Watching(None));
        // 30 % brighter plus an offset, everywhere: not motion.
        let brighter: Vec<u16> = bg
            .iter()
            .map(|&v| ((f32::from(v) * 1.3) as u16 + 5 * 16).min(4080))
            .collect();
        assert_eq!(step(&mut m, &brighter), Seen::Watching(None));
    }

    #[test]
    fn global_change_settles() {
        let (w, h) = (20, 20);
        let mut m = learned(w, h, &flat(w, h, 100));
        // A picture unrelated to the last: a checkerboard.
        let board: Vec<u16> = (0..w * h)
            .map(|i| {
                if (i % w + i / w) % 2 == 0 {
                    20 * 16
                } else {
                    220 * 16
                }
            })
            .collect();
        let s = m.step(&board, Millis(1_400), &params(), false);
        assert_eq!(
            s,
            Seen::Settling {
                global_change: true
            }
        );
        let s = m.step(&board, Millis(1_600), &params(), false);
        assert_eq!(
            s,
            Seen::Settling {
                global_change: false
            }
        );
        let s = m.step(&board, Millis(2_600), &params(), false);
        assert_eq!(s, Seen::Watching(None));
    }

    #[test]
    fn speckle_and_excluded_cells_do_not_count() {
        let (w, h) = (20, 20);
        let mut excluded = vec![false; w * h];
        for y in 0..10 {
            for x in 0..20 {
                excluded[y * w + x] = true;
            }
        }
        let base = flat(w, h, 100);
        let mut m = Model::new(w, h, excluded, Vec::new(), Millis(0));
        for t in (0..=1_200).step_by(200) {
            m.step(&base, Millis(t), &params(), false);
        }
        let mut g = base.clone();
        // A big change inside the excluded half, and isolated cells below.
        for y in 0..10 {
            for x in 5..15 {
                g[y * w + x] = 200 * 16;
            }
        }
        g[15 * w + 3] = 200 * 16;
        g[15 * w + 10] = 200 * 16;
        g[16 * w + 11] = 200 * 16;
        assert_eq!(
            m.step(&g, Millis(1_400), &params(), false),
            Seen::Watching(None)
        );
    }
}
