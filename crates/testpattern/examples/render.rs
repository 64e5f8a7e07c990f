//! Write one test picture as a JPEG (or raw PPM if OUT ends in `.ppm`): `cargo run -p testpattern --example
//! render -- OUT.jpg [WIDTH HEIGHT FRAME MILLIS QUALITY]`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: render OUT.jpg [WIDTH HEIGHT FRAME MILLIS QUALITY]");
        std::process::exit(2);
    };
    let num = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map(|s| s.parse().expect("numeric argument"))
            .unwrap_or(default)
    };
    let pattern = testpattern::Pattern::new(num(1, 1280) as u32, num(2, 720) as u32);
    let stamp = testpattern::Stamp {
        frame: num(3, 1234) as u32,
        millis: num(4, 1_700_000_000_123),
    };
    let image = pattern.render(stamp);
    let bytes = if out.ends_with(".ppm") {
        let mut ppm = format!("P6\n{} {}\n255\n", image.width, image.height).into_bytes();
        ppm.extend_from_slice(&image.rgb);
        ppm
    } else {
        testpattern::encode_jpeg(&image, num(5, 75) as u8)
    };
    std::fs::write(out, bytes).expect("write the picture");
}
