//! Fuzzes the challenge parser: anything that parses must format and parse back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mpp::fuzzing::challenge(data));
