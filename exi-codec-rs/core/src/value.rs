//! The dynamic document tree the codec decodes into and encodes from.

use crate::bigint::Integer;

/// Kind of binary content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bin {
    /// xs:hexBinary (upper-case hex in JSON).
    Hex,
    /// xs:base64Binary (base64 in JSON).
    B64,
}

/// A value of the document tree. Map keys are local-name ids of the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// xs:boolean.
    Bool(bool),
    /// Any integer type (when it fits in `i128`: the usual case).
    Int(i128),
    /// An integer wider than `i128` (RFC 5280 serial numbers; see [`crate::bigint`]).
    Big(Box<crate::bigint::BigInt>),
    /// A string (also accepted on encode for hex/base64 and enumerations).
    Str(String),
    /// An enumeration value as decoded (borrowed from the tables).
    Enum(&'static str),
    /// Binary content.
    Bytes(Vec<u8>, Bin),
    /// Repeated element.
    List(Vec<Value>),
    /// Element with attributes and/or children, in document order.
    Map(Vec<(u16, Value)>),
}

impl Value {
    /// The tree value of an integer.
    pub fn integer(n: Integer) -> Value {
        match n {
            Integer::Small(n) => Value::Int(n),
            Integer::Big(b) => Value::Big(Box::new(b)),
        }
    }

    /// The string of a `Str` or `Enum`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Enum(s) => Some(s),
            _ => None,
        }
    }

    /// Equal content, with the entries of every `Map` compared regardless of order. A map's keys are unique
    /// (repeated elements are a `List`), so element content that a schema lets interleave (e.g. the
    /// `xs:choice maxOccurs="unbounded"` of XMLDSig `X509Data`) decodes in stream order but re-encodes in
    /// schema order: the same tree, in a different key order.
    #[must_use]
    pub fn same_content(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_content(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(k, v)| {
                        b.iter()
                            .find(|(k2, _)| k2 == k)
                            .is_some_and(|(_, w)| v.same_content(w))
                    })
            }
            _ => self == other,
        }
    }

    /// Rough in-memory size of the tree in bytes (for figures).
    pub fn mem_size(&self) -> usize {
        let base = std::mem::size_of::<Value>();
        base + match self {
            Value::Str(s) => s.capacity(),
            Value::Bytes(b, _) => b.capacity(),
            Value::List(l) => l.iter().map(|v| v.mem_size()).sum::<usize>(),
            Value::Map(m) => m.iter().map(|(_, v)| 8 + v.mem_size()).sum::<usize>(),
            _ => 0,
        }
    }
}
