//! Scripted scenes for motion detection: a still room with sensor noise, objects on timed paths, lighting changes.
//!
//! A [`Scene`] is data (serde: a test's or a bench's script file) and every
//! frame is a pure function of the scene and the frame's time:
//! [`Scene::render`] at the same time gives the same pixels, noise
//! included (it is seeded by `seed` and the time). What the script says
//! happens is what the picture shows, so a detector's events can be
//! checked against the script's times.
//!
//! - **Background**: a room (wall and floor gradients, a window, a door, a
//!   table, a picture on the wall) with fixed grain, drawn once per scene
//!   from the seed.
//! - **Objects**: rectangles or ellipses of a colour with a stripe texture
//!   that moves with them, centred on a path of `[time_s, x, y]` points
//!   (normalized, may lie outside 0..1 to enter from off-picture), linear
//!   between points, absent before the first and after the last.
//! - **Lighting**: gain and offset steps and ramps (lights, auto-exposure,
//!   sunrise), and a switch to night mode (an IR camera: grey, brighter,
//!   contrast compressed), applied to the whole picture.
//! - **Sensor noise**: Gaussian, `noise` levels standard deviation per
//!   channel, independent per pixel and frame, applied last.
//! - **Clock**: optionally the test pattern's clock panel in the top-left
//!   corner, as cameras burn in their time.

use serde::{Deserialize, Serialize};

use crate::{Image, Pattern, Stamp};

/// A scripted scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub duration_s: f64,
    pub seed: u64,
    /// Standard deviation of the sensor noise, in levels per channel.
    #[serde(default)]
    pub noise: f32,
    /// Strength of the background's grain (1 = normal).
    #[serde(default = "one")]
    pub texture: f32,
    #[serde(default, rename = "object")]
    pub objects: Vec<Object>,
    #[serde(default)]
    pub lighting: Vec<Lighting>,
    /// Draw the test pattern's clock panel (time and frame number).
    #[serde(default)]
    pub clock: bool,
}

fn one() -> f32 {
    1.0
}

/// A moving object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Object {
    #[serde(default)]
    pub shape: Shape,
    /// Width and height, normalized to the picture.
    pub size: [f32; 2],
    pub color: [u8; 3],
    /// `[time_s, x, y]` of the centre, times increasing.
    pub path: Vec<[f64; 3]>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    #[default]
    Rect,
    Ellipse,
}

/// A change of the whole picture's light.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Lighting {
    /// From `at_s` on: `v * gain + offset`.
    Step { at_s: f64, gain: f32, offset: f32 },
    /// Linearly from no change at `from_s` to `v * gain + offset` at `to_s`,
    /// then held.
    Ramp {
        from_s: f64,
        to_s: f64,
        gain: f32,
        offset: f32,
    },
    /// From `at_s` on, the camera's night mode: grey, brighter, contrast
    /// compressed (`255 * (v / 255) ^ 0.6`).
    Night { at_s: f64 },
}

impl Object {
    /// Centre at `t`, or `None` outside the path's times.
    pub fn centre_at(&self, t: f64) -> Option<(f64, f64)> {
        let first = self.path.first()?;
        let last = self.path.last()?;
        if t < first[0] || t > last[0] {
            return None;
        }
        for w in self.path.windows(2) {
            let (a, b) = (w[0], w[1]);
            if t <= b[0] {
                let f = if b[0] > a[0] {
                    (t - a[0]) / (b[0] - a[0])
                } else {
                    1.0
                };
                return Some((a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])));
            }
        }
        Some((last[1], last[2]))
    }

    /// True if the point (normalized) is covered by the object centred at
    /// `(cx, cy)`.
    pub fn covers(&self, cx: f64, cy: f64, x: f64, y: f64) -> bool {
        let (hw, hh) = (f64::from(self.size[0]) / 2.0, f64::from(self.size[1]) / 2.0);
        let (dx, dy) = ((x - cx) / hw, (y - cy) / hh);
        match self.shape {
            Shape::Rect => dx.abs() <= 1.0 && dy.abs() <= 1.0,
            Shape::Ellipse => dx * dx + dy * dy <= 1.0,
        }
    }
}

impl Scene {
    /// Number of frames.
    pub fn frame_count(&self) -> u64 {
        (self.duration_s * f64::from(self.fps)).floor() as u64
    }

    /// Time of frame `index` in ms from the scene's start.
    pub fn frame_millis(&self, index: u64) -> u64 {
        index * 1000 / u64::from(self.fps.max(1))
    }

    /// A renderer (draws the background once).
    pub fn renderer(&self) -> Renderer {
        Renderer::new(self.clone())
    }

    /// Gain and offset at `t`, and whether night mode is on.
    fn light_at(&self, t: f64) -> (f32, f32, bool) {
        let (mut gain, mut offset, mut night) = (1.0f32, 0.0f32, false);
        for l in &self.lighting {
            match *l {
                Lighting::Step {
                    at_s,
                    gain: g,
                    offset: o,
                } if t >= at_s => {
                    gain *= g;
                    offset = offset * g + o;
                }
                Lighting::Ramp {
                    from_s,
                    to_s,
                    gain: g,
                    offset: o,
                } if t > from_s => {
                    let f = if to_s > from_s {
                        ((t - from_s) / (to_s - from_s)).min(1.0) as f32
                    } else {
                        1.0
                    };
                    let (g, o) = (1.0 + f * (g - 1.0), f * o);
                    gain *= g;
                    offset = offset * g + o;
                }
                Lighting::Night { at_s } if t >= at_s => night = true,
                _ => {}
            }
        }
        (gain, offset, night)
    }
}

/// Renders a scene's frames.
#[derive(Debug, Clone)]
pub struct Renderer {
    scene: Scene,
    background: Vec<u8>,
    /// Standard normal samples x 16 x `noise`, for table lookup.
    noise: Vec<i16>,
    pattern: Pattern,
}

const NOISE_TABLE: usize = 4096;

impl Renderer {
    fn new(mut scene: Scene) -> Renderer {
        scene.width = scene.width.clamp(crate::MIN_DIM, crate::MAX_DIM);
        scene.height = scene.height.clamp(crate::MIN_DIM, crate::MAX_DIM);
        let background = room(&scene);
        let mut rng = Rng::new(scene.seed ^ 0x006e_6f69_7365);
        let noise = (0..NOISE_TABLE)
            .map(|_| (rng.gaussian() * scene.noise * 16.0).round() as i16)
            .collect();
        let pattern = Pattern::new(scene.width, scene.height);
        Renderer {
            scene,
            background,
            noise,
            pattern,
        }
    }

    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    /// The frame at `millis` from the scene's start (`index` only labels
    /// the clock panel).
    pub fn render(&self, index: u64, millis: u64) -> Image {
        let (w, h) = (self.scene.width as usize, self.scene.height as usize);
        let t = millis as f64 / 1000.0;
        let mut rgb = self.background.clone();
        for obj in &self.scene.objects {
            draw_object(&mut rgb, w, h, obj, t);
        }
        if self.scene.clock {
            self.pattern.clock_panel(
                &mut rgb,
                Stamp {
                    frame: index as u32,
                    millis,
                },
            );
        }
        let (gain, offset, night) = self.scene.light_at(t);
        if night {
            for px in rgb.chunks_exact_mut(3) {
                let y =
                    (77 * u32::from(px[0]) + 150 * u32::from(px[1]) + 29 * u32::from(px[2])) >> 8;
                let v = (255.0 * (y as f32 / 255.0).powf(0.6)) as u8;
                px.fill(v);
            }
        }
        // Lighting as a lookup table in 1/16 levels, then noise, clamp.
        let lut: Vec<i32> = (0..256)
            .map(|v| ((v as f32 * gain + offset) * 16.0).round() as i32)
            .collect();
        let mut rng = Rng::new(self.scene.seed ^ millis.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let with_noise = self.scene.noise > 0.0;
        let mut bits = 0u64;
        let mut left = 0;
        for v in rgb.iter_mut() {
            let mut x = lut[usize::from(*v)];
            if with_noise {
                if left == 0 {
                    bits = rng.next();
                    left = 5;
                }
                x += i32::from(self.noise[(bits & 0xfff) as usize]);
                bits >>= 12;
                left -= 1;
            }
            *v = ((x + 8) >> 4).clamp(0, 255) as u8;
        }
        Image {
            width: w as u32,
            height: h as u32,
            rgb,
        }
    }
}

/// Draw `obj` at time `t` (clipped).
fn draw_object(rgb: &mut [u8], w: usize, h: usize, obj: &Object, t: f64) {
    let Some((cx, cy)) = obj.centre_at(t) else {
        return;
    };
    let (ow, oh) = (
        f64::from(obj.size[0]) * w as f64,
        f64::from(obj.size[1]) * h as f64,
    );
    let (px, py) = (cx * w as f64, cy * h as f64);
    let x0 = (px - ow / 2.0).floor().max(0.0) as usize;
    let y0 = (py - oh / 2.0).floor().max(0.0) as usize;
    let x1 = ((px + ow / 2.0).ceil().max(0.0) as usize).min(w);
    let y1 = ((py + oh / 2.0).ceil().max(0.0) as usize).min(h);
    let left = px - ow / 2.0;
    for y in y0..y1 {
        let ny = (y as f64 + 0.5) / h as f64;
        for x in x0..x1 {
            let nx = (x as f64 + 0.5) / w as f64;
            if !obj.covers(cx, cy, nx, ny) {
                continue;
            }
            // Stripes 6 px wide that move with the object: +-10 levels.
            let stripe = ((x as f64 - left) / 6.0).floor() as i64 % 2 == 0;
            let d: i16 = if stripe { 10 } else { -10 };
            let p = (y * w + x) * 3;
            for c in 0..3 {
                rgb[p + c] = (i16::from(obj.color[c]) + d).clamp(0, 255) as u8;
            }
        }
    }
}

/// The still room the objects move in.
fn room(scene: &Scene) -> Vec<u8> {
    let (w, h) = (scene.width as usize, scene.height as usize);
    let mut rgb = vec![0u8; w * h * 3];
    let mut rng = Rng::new(scene.seed);
    // Coarse blotches (16 px) and fine grain, fixed for the scene.
    let (bw, bh) = (w.div_ceil(16), h.div_ceil(16));
    let blotch: Vec<f32> = (0..bw * bh).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let items: [([f32; 4], [f32; 3]); 5] = [
        ([0.08, 0.10, 0.30, 0.42], [205.0, 215.0, 230.0]), // window
        ([0.70, 0.18, 0.86, 0.62], [95.0, 70.0, 50.0]),    // door
        ([0.36, 0.55, 0.62, 0.68], [120.0, 85.0, 55.0]),   // table
        ([0.42, 0.15, 0.56, 0.32], [60.0, 90.0, 70.0]),    // picture
        ([0.88, 0.50, 0.97, 0.80], [170.0, 160.0, 60.0]),  // plant pot
    ];
    for y in 0..h {
        let ny = (y as f32 + 0.5) / h as f32;
        // Wall: 150 at the top to 125 at the skirting (0.62); floor 95 to 70.
        let base = if ny < 0.62 {
            [150.0 - 40.0 * ny, 145.0 - 40.0 * ny, 135.0 - 40.0 * ny]
        } else {
            let f = (ny - 0.62) / 0.38;
            [105.0 - 25.0 * f, 90.0 - 25.0 * f, 75.0 - 25.0 * f]
        };
        for x in 0..w {
            let nx = (x as f32 + 0.5) / w as f32;
            let mut c = base;
            for (r, col) in &items {
                if nx >= r[0] && nx < r[2] && ny >= r[1] && ny < r[3] {
                    c = *col;
                }
            }
            let b = blotch[(y / 16) * bw + x / 16] * 8.0 * scene.texture;
            let g = (rng.uniform() * 2.0 - 1.0) * 4.0 * scene.texture;
            let p = (y * w + x) * 3;
            for k in 0..3 {
                rgb[p + k] = (c[k] + b + g).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    rgb
}

/// xorshift64* with a splitmix64 seed: small, fast, deterministic.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in 0..1.
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box-Muller).
    fn gaussian(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene() -> Scene {
        Scene {
            width: 160,
            height: 120,
            fps: 10,
            duration_s: 4.0,
            seed: 7,
            noise: 2.0,
            texture: 1.0,
            objects: vec![Object {
                shape: Shape::Rect,
                size: [0.25, 0.5],
                color: [20, 20, 20],
                path: vec![[1.0, -0.125, 0.5], [3.0, 1.125, 0.5]],
            }],
            lighting: vec![],
            clock: false,
        }
    }

    fn mean(img: &Image, x0: usize, y0: usize, x1: usize, y1: usize) -> f64 {
        let mut s = 0u64;
        for y in y0..y1 {
            for x in x0..x1 {
                s += u64::from(img.rgb[(y * img.width as usize + x) * 3]);
            }
        }
        s as f64 / ((x1 - x0) * (y1 - y0)) as f64
    }

    #[test]
    fn deterministic_and_noisy() {
        let r = scene().renderer();
        assert_eq!(r.render(3, 300), r.render(3, 300));
        assert_eq!(scene().renderer().render(3, 300), r.render(3, 300));
        let (a, b) = (r.render(3, 300), r.render(4, 400));
        // Before the object: only noise differs, about 2 levels.
        let diff: f64 = a
            .rgb
            .iter()
            .zip(&b.rgb)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
            .sum::<f64>()
            / a.rgb.len() as f64;
        // E|X - Y| for two N(0, 2) samples is 2 * 2 / sqrt(pi) = 2.26.
        assert!((1.9..2.6).contains(&diff), "{diff}");
    }

    #[test]
    fn object_follows_its_path() {
        let r = scene().renderer();
        assert_eq!(r.render(0, 0).width, 160);
        // At 2 s the object is centred: the middle of the picture is dark.
        let mid = r.render(20, 2000);
        assert!(mean(&mid, 70, 50, 90, 70) < 40.0);
        // At 0.5 s and 3.5 s it is not in the picture.
        let before = r.render(5, 500);
        assert!(mean(&before, 70, 50, 90, 70) > 100.0);
        assert!(mean(&r.render(35, 3500), 0, 0, 160, 120) > 90.0);
        assert_eq!(scene().objects[0].centre_at(2.0), Some((0.5, 0.5)));
        assert_eq!(scene().objects[0].centre_at(0.9), None);
    }

    #[test]
    fn lighting() {
        let mut s = scene();
        s.objects.clear();
        s.noise = 0.0;
        s.lighting = vec![
            Lighting::Step {
                at_s: 1.0,
                gain: 1.5,
                offset: 0.0,
            },
            Lighting::Ramp {
                from_s: 2.0,
                to_s: 3.0,
                gain: 0.5,
                offset: 10.0,
            },
            Lighting::Night { at_s: 3.5 },
        ];
        let r = s.renderer();
        let m0 = mean(&r.render(0, 0), 0, 0, 160, 10);
        let m1 = mean(&r.render(0, 1500), 0, 0, 160, 10);
        assert!((m1 / m0 - 1.5).abs() < 0.02, "{m0} {m1}");
        let m2 = mean(&r.render(0, 3000), 0, 0, 160, 10);
        assert!((m2 - (m0 * 0.75 + 10.0)).abs() < 1.5, "{m0} {m2}");
        let night = r.render(0, 3600);
        assert!(
            night
                .rgb
                .chunks_exact(3)
                .all(|p| p[0] == p[1] && p[1] == p[2])
        );
    }

    #[test]
    fn parses_from_toml() {
        let s: Scene = toml::from_str(
            r#"
            width = 320
            height = 240
            fps = 10
            duration_s = 30.0
            seed = 1
            noise = 1.5
            lighting = [{ kind = "step", at_s = 5.0, gain = 1.2, offset = 0.0 }, { kind = "night", at_s = 9.0 }]
            [[object]]
            shape = "ellipse"
            size = [0.1, 0.2]
            color = [10, 20, 30]
            path = [[1.0, -0.1, 0.5], [4.0, 1.1, 0.5]]
            "#,
        )
        .unwrap();
        assert_eq!(s.objects[0].shape, Shape::Ellipse);
        assert_eq!(s.lighting.len(), 2);
        assert_eq!(s.frame_count(), 300);
        assert!(
            toml::from_str::<Scene>(
                "width = 1\nheight = 1\nfps = 1\nduration_s = 1.0\nseed = 1\nnoize = 1.0"
            )
            .is_err()
        );
    }
}
