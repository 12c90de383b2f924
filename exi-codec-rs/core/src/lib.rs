//! Schema-informed EXI codec for the V2G message sets (pure Rust core, no I/O).
//!
//! Profile: EXI 1.0, bit-packed, schema-informed, strict=false grammars, no options header (first byte
//! 0x80), default fidelity options. Grammar tables are generated from the XSDs by
//! `exi-codec-rs/generator/gen.py`; this crate interprets them over a dynamic [`Value`] tree.

#![forbid(unsafe_code)]

pub mod bigint;
pub mod bits;
pub mod decode;
pub mod doc;
pub mod encode;
pub mod error;
#[rustfmt::skip]
pub mod generated;
pub mod random;
pub mod strings;
pub mod tables;
pub mod text;
pub mod value;
pub mod xml;

pub use bigint::{BigInt, Integer};
pub use doc::Doc;
pub use error::Error;
pub use tables::Schema;
pub use value::{Bin, Value};

/// Version of the codec core.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Map key of the text of an element with attributes and simple content.
pub const VALUE_KEY: u16 = u16::MAX;
/// JSON name of [`VALUE_KEY`].
pub const VALUE_NAME: &str = "value";
/// Maximum element nesting accepted.
pub const MAX_DEPTH: usize = 48;

/// Schema names accepted by [`schema`].
pub const SCHEMA_NAMES: [&str; 9] = [
    "sap",
    "din",
    "iso2",
    "iso20-cm",
    "iso20-ac",
    "iso20-dc",
    "iso20-wpt",
    "iso20-acdp",
    "xmldsig",
];

/// Look up a schema set by short name (`sap`, `din`, `iso2`, `iso20-cm`, ...) or by its namespace.
pub fn schema(name: &str) -> Option<&'static Schema> {
    generated::ALL
        .iter()
        .copied()
        .find(|s| s.name == name || s.namespace == name)
}

/// Decode an EXI document into a tree.
pub fn decode(schema: &'static Schema, data: &[u8]) -> Result<Value, Error> {
    decode::decode(schema, data)
}

/// Encode a tree into an EXI document.
pub fn encode(schema: &'static Schema, v: &Value) -> Result<Vec<u8>, Error> {
    encode::encode(schema, v)
}

/// Decode EXI to the JSON dialect.
pub fn decode_json(schema: &'static Schema, data: &[u8]) -> Result<String, Error> {
    Ok(text::to_json(schema, &decode::decode(schema, data)?))
}

/// Encode the JSON dialect to EXI.
pub fn encode_json(schema: &'static Schema, json: &str) -> Result<Vec<u8>, Error> {
    encode::encode(schema, &text::from_json(schema, json)?)
}
