//! The stable content hash behind shard and job ids.
//!
//! FNV-1a over 128 bits, written out here so ids depend on nothing but the
//! bytes hashed: no std `Hasher` (its algorithm may change between Rust
//! releases), no platform word size. 128 bits keep accidental collisions out
//! of reach for any number of shards a store will ever hold.

const OFFSET_BASIS: u128 = 0x6c62272e07bb014262b821756295c58d;
const PRIME: u128 = 0x0000000001000000000000000000013B;

/// FNV-1a/128 of `bytes`.
pub fn fnv1a_128(bytes: &[u8]) -> u128 {
    bytes
        .iter()
        .fold(OFFSET_BASIS, |h, &b| (h ^ b as u128).wrapping_mul(PRIME))
}

/// The hash as 32 lowercase hex digits.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:032x}", fnv1a_128(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_published_fnv1a_128_vectors() {
        // Test vectors of the FNV reference (isthe.com/chongo/tech/comp/fnv).
        assert_eq!(fnv1a_128(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }
}
