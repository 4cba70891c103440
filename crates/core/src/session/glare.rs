//! The re-INVITE glare timer (RFC 3261 §14.1): a UAC whose re-INVITE got
//! 491 Request Pending waits before trying again, the owner of the
//! Call-ID (the side that sent the first INVITE) longer than the other,
//! so that the two do not collide again.

use std::time::Duration;

/// How long to wait before retrying a re-INVITE refused with 491:
/// `owns_call_id` (this side generated the Call-ID) waits 2.1 to 4 s,
/// the other 0 to 2 s, in units of 10 ms. `random` picks within the
/// range (any value; it is reduced), so that tests can fix it.
pub fn retry_after_491(owns_call_id: bool, random: u32) -> Duration {
    let (base, steps) = if owns_call_id { (210, 190) } else { (0, 200) };
    Duration::from_millis(u64::from((base + random % (steps + 1)) * 10))
}

/// [`retry_after_491`] with a random choice.
pub fn random_retry_after_491(owns_call_id: bool) -> Duration {
    retry_after_491(owns_call_id, rand::random())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_waits_longer() {
        assert_eq!(retry_after_491(true, 0), Duration::from_millis(2100));
        assert_eq!(retry_after_491(true, 190), Duration::from_millis(4000));
        assert_eq!(retry_after_491(true, 191), Duration::from_millis(2100));
        assert_eq!(retry_after_491(false, 0), Duration::ZERO);
        assert_eq!(retry_after_491(false, 200), Duration::from_millis(2000));
        for _ in 0..1000 {
            let owner = random_retry_after_491(true);
            assert!((Duration::from_millis(2100)..=Duration::from_secs(4)).contains(&owner));
            assert_eq!(owner.as_millis() % 10, 0);
            let other = random_retry_after_491(false);
            assert!(other <= Duration::from_secs(2));
        }
    }
}
