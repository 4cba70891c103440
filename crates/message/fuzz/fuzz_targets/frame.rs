//! Frames arbitrary bytes as a stream: framing never panics, a framed
//! message lies inside the buffer, and splitting the input anywhere gives
//! the same first frame once all bytes are there.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipjet_message::framing::{Frame, FrameLimits, frame};
use sipjet_message::{Message, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let limits = FrameLimits {
        max_header_bytes: 4096,
        max_body_bytes: 4096,
    };
    let whole = frame(data, &limits);
    if let Ok(Frame::Message { len, body_start }) = whole {
        assert!(len <= data.len() && body_start <= len);
        let opts = ParseOptions {
            stream: true,
            ..ParseOptions::default()
        };
        let _ = Message::parse_with(bytes::Bytes::copy_from_slice(&data[..len]), &opts);
    }
    // Feeding a prefix never claims more than the prefix holds.
    for cut in [data.len() / 3, data.len() / 2] {
        if let Ok(Frame::Message { len, .. }) = frame(&data[..cut], &limits) {
            assert!(len <= cut);
            assert_eq!(whole, frame(&data[..cut], &limits));
        }
    }
});
