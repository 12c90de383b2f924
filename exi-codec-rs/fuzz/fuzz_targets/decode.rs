//! Decode arbitrary bytes with every schema (first input byte selects the schema): must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let all = &exi_codec::generated::ALL;
    let schema = all[data[0] as usize % all.len()];
    let _ = exi_codec::decode(schema, &data[1..]);
    let _ = exi_codec::decode::decode_fragment(schema, &data[1..]);
});
