//! Integration tests of the pure core: bit I/O, text forms, random documents of every root of every
//! schema, the shared vectors when present, and error cases.

use exi_codec::bits::{BitReader, BitWriter};
use exi_codec::random::{random_document, root_count, root_name};
use exi_codec::text::{
    b64_decode, b64_encode, from_json, hex_decode, hex_decode_to, hex_encode, to_json,
};
use exi_codec::{decode, encode, schema, Value};

#[test]
fn unsigned_integers_round_trip() {
    for v in [
        0u128,
        1,
        127,
        128,
        16383,
        16384,
        u32::MAX as u128,
        u64::MAX as u128,
        1 << 100,
    ] {
        let mut w = BitWriter::default();
        w.bits(3, 5);
        w.uint(v);
        let b = w.finish();
        let mut r = BitReader::new(&b);
        assert_eq!(r.bits(3, "x").unwrap(), 5);
        assert_eq!(r.uint("x").unwrap(), v);
    }
    // 127 is one group, 128 two groups (EXI 7.1.6)
    let mut w = BitWriter::default();
    w.uint(128);
    assert_eq!(w.finish(), vec![0x80, 0x01]);
}

#[test]
fn unsigned_integer_overflow_is_an_error() {
    let data = [0xffu8; 40];
    assert!(BitReader::new(&data).uint("x").is_err());
}

#[test]
fn text_forms() {
    let b: Vec<u8> = (0..=255u8).collect();
    assert_eq!(hex_decode(&hex_encode(&b)).unwrap(), b);
    assert_eq!(hex_encode(&[0xab, 0x01]), "AB01");
    for n in 0..8 {
        assert_eq!(b64_decode(&b64_encode(&b[..n])).unwrap(), &b[..n]);
    }
    assert_eq!(b64_encode(b"\x01\x02\x03\x04"), "AQIDBA==");
    assert!(hex_decode("abc").is_none());
    assert!(b64_decode("A===").is_none());
    // the stack form agrees with the vector form, and refuses what does not fit or is not hex
    let mut out = [0u8; 32];
    for t in ["", "00", "aBcD", "8FA57FDE2BFAFE78", &hex_encode(&b[..32])] {
        let n = hex_decode_to(t, &mut out).unwrap();
        assert_eq!(&out[..n], hex_decode(t).unwrap());
    }
    assert_eq!(hex_decode_to(&hex_encode(&b[..33]), &mut out), None);
    for bad in ["abc", "0g", "g0", " 0", "\u{e9}00"] {
        assert_eq!(hex_decode_to(bad, &mut out), None, "{bad:?}");
    }
}

#[test]
fn random_documents_of_every_root_round_trip() {
    let mut total = 0;
    for s in exi_codec::generated::ALL.iter().copied() {
        for root in 0..root_count(s) {
            for seed in 0..3u64 {
                let Some(doc) = random_document(s, root, seed, 2) else {
                    continue;
                };
                let a = encode(s, &doc)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", s.name, root_name(s, root)));
                let back = decode(s, &a)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", s.name, root_name(s, root)));
                assert_eq!(encode(s, &back).unwrap(), a);
                // JSON dialect round trip gives the same bytes
                let json = to_json(s, &back);
                assert_eq!(encode(s, &from_json(s, &json).unwrap()).unwrap(), a);
                total += 1;
            }
        }
    }
    assert!(total > 900, "{total}");
}

#[test]
fn shared_vectors_round_trip_when_present() {
    let mut doc = exi_codec::Doc::default();
    let mut out = Vec::new();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/captured_exi.jsonl"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("../shared not present: skipped");
        return;
    };
    let mut n = 0;
    for line in text.lines() {
        let fam = line
            .split("\"family\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let hex = line
            .split("\"exi_hex\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let name = match fam {
            "cm" => "iso20-cm",
            "ac" => "iso20-ac",
            f => f,
        };
        let s = schema(name).unwrap();
        let data = hex_decode(hex).unwrap();
        let tree = decode(s, &data).unwrap();
        assert_eq!(encode(s, &tree).unwrap(), data);
        // the flat, reusable document holds the same content, and encoding into a reused buffer is exact
        doc.decode(s, &data, false).unwrap();
        assert_eq!(doc.to_value(), tree);
        exi_codec::encode::encode_from(s, &&tree, false, &mut out).unwrap();
        assert_eq!(out, data);
        n += 1;
    }
    assert_eq!(n, 786);
}

#[test]
fn errors() {
    let sap = schema("sap").unwrap();
    let ok = hex_decode("80400040").unwrap();
    assert!(decode(sap, &ok).is_ok());
    let e = decode(sap, &hex_decode("8040004000").unwrap()).unwrap_err();
    assert!(e.message().contains("unconsumed"), "{e}");
    let e = decode(sap, &hex_decode("00400040").unwrap()).unwrap_err();
    assert_eq!(e.bit(), 0);
    let e = decode(sap, &hex_decode("8040").unwrap()).unwrap_err();
    assert!(e.message().contains("premature"), "{e}");
    let e = encode(sap, &Value::Map(vec![])).unwrap_err();
    assert!(e.message().contains("exactly one root"), "{e}");
    assert!(from_json(sap, r#"{"nope":1}"#).is_err());
    assert!(from_json(sap, r#"{"supportedAppProtocolRes":1.5}"#).is_err());
}

#[test]
fn schemas_by_name_and_namespace() {
    assert_eq!(schema("urn:din:70121:2012:MsgDef").unwrap().name, "din");
    for n in exi_codec::SCHEMA_NAMES {
        assert_eq!(schema(n).unwrap().name, n);
    }
    assert!(schema("iso3").is_none());
}

/// Found by cargo-fuzz: interleaved repeated children (XMLDSig `X509Data` is a repeated choice) decode in
/// stream order and re-encode in schema order: the same content, map keys in another order.
#[test]
fn interleaved_repeated_children_round_trip_with_the_same_content() {
    let data: [u8; 13] = [
        0x01, 0x80, 0xa0, 0x80, 0x98, 0x02, 0x23, 0x09, 0x0e, 0x10, 0x08, 0x63, 0x00,
    ];
    let all = &exi_codec::generated::ALL;
    let schema = all[data[0] as usize % all.len()];
    let tree = decode(schema, &data[1..]).expect("the fuzz input decodes");
    let bytes = encode(schema, &tree).expect("a decoded tree must encode");
    let again = decode(schema, &bytes).expect("an encoded tree must decode");
    assert!(tree.same_content(&again));
    assert_ne!(
        tree, again,
        "the key order differs (stream order vs schema order)"
    );
    assert_eq!(encode(schema, &again).expect("re-encode"), bytes);
    let Value::Map(a) = &tree else {
        panic!("a map")
    };
    let Value::Map(b) = &again else {
        panic!("a map")
    };
    assert_eq!(a.len(), b.len());
}

/// The flat document decoder rejects what the tree decoder rejects (same error), and a failed decode leaves
/// a reusable document behind.
#[test]
fn flat_document_errors_match_the_tree_decoder() {
    let sap = schema("sap").unwrap();
    let mut doc = exi_codec::Doc::default();
    for bad in ["8040004000", "00400040", "8040", "80"] {
        let data = hex_decode(bad).unwrap();
        let a = decode(sap, &data).unwrap_err();
        let b = doc.decode(sap, &data, false).unwrap_err();
        assert_eq!(a, b, "{bad}");
    }
    doc.decode(sap, &hex_decode("80400040").unwrap(), false)
        .unwrap();
    assert_eq!(
        doc.to_value(),
        decode(sap, &hex_decode("80400040").unwrap()).unwrap()
    );
}

/// ISO-2 `eMAID` is declared with two different types: as a fragment it takes the Schema-informed Element
/// Fragment grammar (EXI 1.0 section 8.5.3). The bytes are EXIficient 1.55's for the same element.
#[test]
fn ambiguous_element_fragment_matches_exificient() {
    let s = schema("iso2").unwrap();
    let v = from_json(s, r#"{"eMAID":{"Id":"id1","value":"DEJSVC000000001"}}"#).unwrap();
    let bytes = exi_codec::encode::encode_fragment(s, &v).unwrap();
    assert_eq!(
        hex_encode(&bytes),
        "80EC0202B4B218C00451115294D590CC0C0C0C0C0C0C0C0C7D3D00"
    );
    let back = exi_codec::decode::decode_fragment(s, &bytes).unwrap();
    assert_eq!(back, v);
}

/// `X509SerialNumber` (xs:integer) beyond i128: RFC 5280 serials have up to 160 bits. JSON text in and out,
/// EXI 7-bit groups on the wire (the same bytes as EXIficient, see tests/exi/test_big_integers.py).
#[test]
fn integers_wider_than_i128_round_trip() {
    let s = schema("xmldsig").unwrap();
    for n in [
        "1461501637330902918203684832716283019655932542975",
        "-1461501637330902918203684832716283019655932542976",
        "170141183460469231731687303715884105728",
    ] {
        let json = format!(r#"{{"X509SerialNumber":{n}}}"#);
        let v = from_json(s, &json).unwrap();
        assert!(matches!(&v, Value::Map(m) if matches!(m[0].1, Value::Big(_))));
        let bytes = exi_codec::encode::encode_fragment(s, &v).unwrap();
        let back = exi_codec::decode::decode_fragment(s, &bytes).unwrap();
        assert_eq!(to_json(s, &back), json);
        let mut doc = exi_codec::Doc::default();
        doc.decode(s, &bytes, true).unwrap();
        assert_eq!(doc.to_value(), back);
    }
    let wide = exi_codec::encode::encode_fragment(
        s,
        &from_json(
            s,
            r#"{"X509SerialNumber":1461501637330902918203684832716283019655932542975}"#,
        )
        .unwrap(),
    )
    .unwrap();
    let mut want = vec![0x80, 0xa4];
    want.extend([0xff; 22]);
    want.extend([0x3f, 0x5c]);
    assert_eq!(wide, want);
}
