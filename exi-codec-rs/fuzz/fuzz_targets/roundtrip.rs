//! Decode -> encode -> decode: whatever decodes must re-encode, and re-decode to the same tree (map entries in
//! any order: interleaved repeated elements come back in schema order); a
//! re-encoding of a canonical stream is byte-identical.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let all = &exi_codec::generated::ALL;
    let schema = all[data[0] as usize % all.len()];
    let mut doc = exi_codec::Doc::default();
    let flat = doc.decode(schema, &data[1..], false);
    if let Ok(tree) = exi_codec::decode(schema, &data[1..]) {
        assert!(
            flat.is_ok() && doc.to_value() == tree,
            "flat and tree decoders differ"
        );
        let bytes = exi_codec::encode(schema, &tree).expect("a decoded tree must encode");
        let again = exi_codec::decode(schema, &bytes).expect("an encoded tree must decode");
        assert!(
            tree.same_content(&again),
            "re-decoded tree differs:\n{tree:?}\n{again:?}"
        );
        assert_eq!(exi_codec::encode(schema, &again).expect("re-encode"), bytes);
    }
});
