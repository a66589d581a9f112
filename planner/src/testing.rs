//! Test helpers shared by the planner's unit tests.

/// A deterministic pseudo-random stream (a 64-bit linear congruential generator, upper bits):
/// the same seed gives the same instances on every machine.
pub(crate) fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    }
}

/// [`lcg`] as indices.
pub(crate) fn lcg_usize(seed: u64) -> impl FnMut() -> usize {
    let mut next = lcg(seed);
    move || next() as usize
}
