//! The stored form of a binding's Path values, shared by the SQLite and
//! PostgreSQL tables: one blob, each value's length (8 bytes,
//! little-endian) then its bytes. A length prefix, unlike a separator,
//! survives any text a REGISTER can carry.

/// The Path values as one blob.
pub(crate) fn encode_path<'a>(path: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut blob = Vec::new();
    for value in path {
        blob.extend_from_slice(&(value.len() as u64).to_le_bytes());
        blob.extend_from_slice(value.as_bytes());
    }
    blob
}

/// The Path values of a blob; `None` when it is damaged.
pub(crate) fn decode_path(mut blob: &[u8]) -> Option<Vec<String>> {
    let mut path = Vec::new();
    while !blob.is_empty() {
        let (len, rest) = blob.split_first_chunk::<8>()?;
        let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
        let (value, rest) = rest.split_at_checked(len)?;
        path.push(std::str::from_utf8(value).ok()?.to_owned());
        blob = rest;
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_blobs_round_trip() {
        for path in [
            vec![],
            vec![""],
            vec!["<sip:a.example.com;lr>", "", "<sip:b,c@d;lr>"],
        ] {
            let blob = encode_path(path.iter().copied());
            assert_eq!(decode_path(&blob).expect("well formed"), path);
        }
    }

    #[test]
    fn damaged_path_blobs_are_refused() {
        let blob = encode_path(["<sip:a.example.com;lr>"].into_iter());
        assert!(decode_path(&blob[..blob.len() - 1]).is_none());
        assert!(decode_path(&blob[..5]).is_none());
        let mut not_utf8 = 1u64.to_le_bytes().to_vec();
        not_utf8.push(0xff);
        assert!(decode_path(&not_utf8).is_none());
        assert!(decode_path(&u64::MAX.to_le_bytes()).is_none());
    }
}
