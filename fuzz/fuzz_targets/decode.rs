//! Any bytes as a JPEG from the network, through the decoder the viewer runs on every frame
//! (`camwire::media::codec::Decoder`): a picture or an error, never a panic; a picture is no
//! larger than `MAX_DECODE_SIDE` on a side and never one its bytes cannot code, and every
//! decoding path agrees on its size. The first two bytes pick the tile box for the fitted
//! decode, so scaled decoding is explored too.
#![no_main]
use camwire::media::codec::{Decoder, MAX_DECODE_SIDE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&[bw, bh], jpeg)) = data.split_first_chunk::<2>() else {
        return;
    };
    let mut d = Decoder::new();
    let checked = d.decode_check(jpeg);
    let mut px = Vec::new();
    let full = d.decode_0rgb(jpeg, &mut px);
    assert_eq!(checked.is_ok(), full.is_ok(), "check and decode disagree");
    if let Ok((w, h)) = full {
        assert!(w as usize <= MAX_DECODE_SIDE && h as usize <= MAX_DECODE_SIDE, "{w}x{h}");
        assert_eq!(px.len(), w as usize * h as usize);
        assert_eq!(checked.ok(), Some((w, h)));
        assert_eq!(Decoder::dimensions(jpeg).ok(), Some((w, h)));
    }
    let (box_w, box_h) = (u32::from(bw) * 8, u32::from(bh) * 8);
    if let Ok((fw, fh)) = d.decode_0rgb_fit(jpeg, box_w, box_h, &mut px) {
        assert_eq!(px.len(), fw as usize * fh as usize);
        assert!(fw as usize <= MAX_DECODE_SIDE && fh as usize <= MAX_DECODE_SIDE);
    }
});
