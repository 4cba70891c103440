//! Random identifiers: tags, branches, Call-IDs and multipart boundaries.
//! RFC 3261 §19.3 asks for at least 32 random bits in a tag and for
//! branches unique in space and time; these use 64 to 128 bits from the
//! thread-local cryptographically secure generator.

use rand::Rng;

fn hex(bits: u128, digits: usize) -> String {
    format!("{bits:0width$x}", width = digits)[..digits].to_string()
}

/// A From or To tag (64 random bits).
pub fn tag() -> String {
    hex(u128::from(rand::rng().random::<u64>()), 16)
}

/// A branch with the RFC 3261 magic cookie (96 random bits).
pub fn branch() -> String {
    let bits: u128 = rand::rng().random::<u128>() >> 32;
    format!("{}{}", crate::headers::MAGIC_COOKIE, hex(bits, 24))
}

/// A Call-ID (128 random bits), optionally `@host`.
pub fn call_id(host: Option<&str>) -> String {
    let id = hex(rand::rng().random::<u128>(), 32);
    match host {
        Some(h) => format!("{id}@{h}"),
        None => id,
    }
}

/// A multipart boundary (96 random bits).
pub fn boundary() -> String {
    hex(rand::rng().random::<u128>() >> 32, 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_uniqueness() {
        assert_eq!(tag().len(), 16);
        assert!(branch().starts_with("z9hG4bK"));
        assert_eq!(branch().len(), 7 + 24);
        assert!(call_id(Some("h")).ends_with("@h"));
        let set: std::collections::HashSet<_> = (0..1000).map(|_| branch()).collect();
        assert_eq!(set.len(), 1000);
        assert!(crate::lex::is_token(&tag()));
    }
}
