//! A tiny H.264 encoder for the simulator's generated media: Baseline, CAVLC, every
//! macroblock of an IDR coded as I_PCM (raw samples), P-frames all-skip except one I_PCM
//! macroblock that moves. Valid, decodable, a few kB per frame, no codec library needed.

/// Writes bits MSB first.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    cur: u8,
    n: u8,
}

impl BitWriter {
    fn bit(&mut self, b: bool) {
        self.cur = (self.cur << 1) | u8::from(b);
        self.n += 1;
        if self.n == 8 {
            self.out.push(self.cur);
            self.cur = 0;
            self.n = 0;
        }
    }

    fn u(&mut self, bits: u32, v: u32) {
        for i in (0..bits).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        for _ in 1..len {
            self.bit(false);
        }
        for i in (0..len).rev() {
            self.bit((x >> i) & 1 == 1);
        }
    }

    fn se(&mut self, v: i32) {
        let k = if v > 0 {
            2 * v as u32 - 1
        } else {
            2 * v.unsigned_abs()
        };
        self.ue(k);
    }

    fn align_zero(&mut self) {
        while self.n != 0 {
            self.bit(false);
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        debug_assert_eq!(self.n, 0);
        self.out.extend_from_slice(b);
    }

    fn trailing(mut self) -> Vec<u8> {
        self.bit(true);
        self.align_zero();
        self.out
    }
}

/// Start code + NAL header + escaped RBSP.
fn nal(out: &mut Vec<u8>, header: u8, rbsp: &[u8]) {
    out.extend_from_slice(&[0, 0, 0, 1, header]);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
}

/// Generates one Annex B access unit per call.
#[derive(Debug, Clone)]
pub struct H264Gen {
    mbs_w: u32,
    mbs_h: u32,
    gop: u32,
    frame: u64,
    idr_count: u32,
}

impl H264Gen {
    /// `width`/`height` are rounded to macroblocks (16 pixels); one IDR every `gop` frames.
    pub fn new(width: u32, height: u32, gop: u32) -> Self {
        H264Gen {
            mbs_w: (width / 16).max(1),
            mbs_h: (height / 16).max(1),
            gop: gop.max(1),
            frame: 0,
            idr_count: 0,
        }
    }

    /// Coded width.
    pub fn width(&self) -> u32 {
        self.mbs_w * 16
    }

    /// Coded height.
    pub fn height(&self) -> u32 {
        self.mbs_h * 16
    }

    fn sps(&self) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.u(8, 66); // Baseline
        w.u(8, 0xc0); // constraint_set0 + set1
        w.u(8, 30); // level 3.0
        w.ue(0); // sps id
        w.ue(0); // log2_max_frame_num_minus4 → 16
        w.ue(2); // pic_order_cnt_type 2
        w.ue(1); // max_num_ref_frames
        w.bit(false); // gaps_in_frame_num_value_allowed_flag
        w.ue(self.mbs_w - 1);
        w.ue(self.mbs_h - 1);
        w.bit(true); // frame_mbs_only_flag
        w.bit(true); // direct_8x8_inference_flag
        w.bit(false); // frame_cropping_flag
        w.bit(false); // vui_parameters_present_flag
        w.trailing()
    }

    fn pps() -> Vec<u8> {
        let mut w = BitWriter::default();
        w.ue(0); // pps id
        w.ue(0); // sps id
        w.bit(false); // CAVLC
        w.bit(false); // bottom_field_pic_order_in_frame_present_flag
        w.ue(0); // num_slice_groups_minus1
        w.ue(0); // num_ref_idx_l0_default_active_minus1
        w.ue(0); // num_ref_idx_l1_default_active_minus1
        w.bit(false); // weighted_pred_flag
        w.u(2, 0); // weighted_bipred_idc
        w.se(0); // pic_init_qp_minus26
        w.se(0); // pic_init_qs_minus26
        w.se(0); // chroma_qp_index_offset
        w.bit(false); // deblocking_filter_control_present_flag
        w.bit(false); // constrained_intra_pred_flag
        w.bit(false); // redundant_pic_cnt_present_flag
        w.trailing()
    }

    /// The 384 PCM samples of one macroblock (never 0, which old decoders reject).
    fn pcm(&self, w: &mut BitWriter, mbx: u32, mby: u32, highlight: bool) {
        let t = self.frame as u32;
        let mut s = [0u8; 384];
        for y in 0..16u32 {
            for x in 0..16u32 {
                let v = if highlight {
                    235
                } else {
                    16 + ((mbx * 16 + x + mby * 16 + y + t * 2) % 200)
                };
                s[(y * 16 + x) as usize] = v as u8;
            }
        }
        let cb = 16 + ((mbx * 20 + t) % 200) as u8;
        let cr = 16 + ((mby * 30 + 100) % 200) as u8;
        s[256..320].fill(cb);
        s[320..].fill(cr);
        w.bytes(&s);
    }

    fn moving_mb(&self) -> u32 {
        (self.frame % u64::from(self.mbs_w * self.mbs_h)) as u32
    }

    /// The next access unit (Annex B) and whether it is an IDR.
    pub fn next_frame(&mut self) -> (Vec<u8>, bool) {
        let idx = (self.frame % u64::from(self.gop)) as u32;
        let mut out = Vec::new();
        let key = idx == 0;
        let total = self.mbs_w * self.mbs_h;
        let mut w = BitWriter::default();
        w.ue(0); // first_mb_in_slice
        if key {
            nal(&mut out, 0x67, &self.sps());
            nal(&mut out, 0x68, &Self::pps());
            w.ue(7); // I
            w.ue(0); // pps id
            w.u(4, 0); // frame_num
            w.ue(self.idr_count % 65_536); // idr_pic_id
            w.bit(false); // no_output_of_prior_pics_flag
            w.bit(false); // long_term_reference_flag
            w.se(0); // slice_qp_delta
            let hi = self.moving_mb();
            for mb in 0..total {
                w.ue(25); // I_PCM
                w.align_zero();
                self.pcm(&mut w, mb % self.mbs_w, mb / self.mbs_w, mb == hi);
            }
            self.idr_count = self.idr_count.wrapping_add(1);
            nal(&mut out, 0x65, &w.trailing());
        } else {
            w.ue(5); // P
            w.ue(0); // pps id
            w.u(4, idx % 16); // frame_num
            w.bit(false); // num_ref_idx_active_override_flag
            w.bit(false); // ref_pic_list_modification_flag_l0
            w.bit(false); // adaptive_ref_pic_marking_mode_flag
            w.se(0); // slice_qp_delta
            let mb = self.moving_mb();
            w.ue(mb); // mb_skip_run
            w.ue(30); // I_PCM in a P slice (5 + 25)
            w.align_zero();
            self.pcm(&mut w, mb % self.mbs_w, mb / self.mbs_w, true);
            let rest = total - mb - 1;
            if rest > 0 {
                w.ue(rest);
            }
            nal(&mut out, 0x41, &w.trailing());
        }
        self.frame += 1;
        (out, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sps_parses_and_track_builds() {
        let mut g = H264Gen::new(128, 96, 10);
        let (idr, key) = g.next_frame();
        assert!(key);
        let nals: Vec<&[u8]> = media::h264::nal_units(&idr).collect();
        assert_eq!(nals.len(), 3);
        let info = media::h264::parse_sps(nals[0]).unwrap();
        assert_eq!((info.width, info.height), (128, 96));
        let t = media::TrackConfig::h264(nals[0], nals[1]).unwrap();
        assert_eq!(t.codec_string(), "avc1.42C01E");
        let (p, key) = g.next_frame();
        assert!(!key);
        assert!(p.len() < 600, "{}", p.len());
    }

    #[test]
    fn exp_golomb() {
        let mut w = BitWriter::default();
        w.ue(0); // 1
        w.ue(1); // 010
        w.ue(2); // 011
        w.se(-1); // ue(2) = 011
        assert_eq!(w.trailing(), vec![0b1010_0110, 0b1110_0000]);
    }
}
