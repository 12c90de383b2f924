//! A flat, reusable decoded document: the decoder's events in document order, with strings and octets in
//! one shared buffer. Decoding into a warm [`Doc`] allocates nothing (the counterpart of the fixed C
//! structs other codecs fill); [`Doc::to_value`] gives the tree.

use crate::decode::{Sink, Val};
use crate::error::Error;
use crate::tables::Schema;
use crate::value::{Bin, Value};

/// One event of a [`Doc`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item {
    /// An element with attributes and/or children begins.
    Start,
    /// The element begun last ends.
    End,
    /// xs:boolean.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A wider integer: index into [`Doc::big`].
    Big(u32),
    /// An integer wider than `i128`: index into [`Doc::huge`].
    Huge(u32),
    /// A string: offset and length in [`Doc::bytes`].
    Str(u32, u32),
    /// An enumeration value and its index in the schema's `enums` table.
    Enum(&'static str, u32),
    /// Binary content: offset and length in [`Doc::bytes`].
    Bytes(u32, u32, Bin),
}

/// An event with its key (local-name id) and whether the element repeats (belongs in a list).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Local-name id ([`crate::VALUE_KEY`] for the text of an element with attributes).
    pub key: u16,
    /// The element may repeat.
    pub list: bool,
    /// What it is.
    pub item: Item,
}

/// A decoded document in flat form (see the module documentation).
#[derive(Debug, Default, Clone)]
pub struct Doc {
    /// Events in document order.
    pub nodes: Vec<Node>,
    /// Text (UTF-8) and octets of the string and binary values.
    pub bytes: Vec<u8>,
    /// Integers wider than 64 bits.
    pub big: Vec<i128>,
    /// Integers wider than 128 bits.
    pub huge: Vec<crate::bigint::BigInt>,
    /// The decoder's buffers, reused from call to call (boxed: one pointer moves per call).
    scratch: Option<Box<crate::decode::Scratch>>,
}

impl Doc {
    /// Forget the content, keep the capacity.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.bytes.clear();
        self.big.clear();
        self.huge.clear();
    }

    /// Decode `data` (a document, or with `fragment` a fragment) into this document, replacing its content.
    pub fn decode(
        &mut self,
        schema: &'static Schema,
        data: &[u8],
        fragment: bool,
    ) -> Result<(), Error> {
        self.clear();
        let mut scratch = self.scratch.take().unwrap_or_default();
        let r = crate::decode::decode_with(schema, data, fragment, self, &mut scratch);
        self.scratch = Some(scratch);
        r
    }

    /// The simple value of a node (None for `Start`/`End`).
    pub fn val(&self, n: &Node) -> Option<Val<'_>> {
        Some(match n.item {
            Item::Start | Item::End => return None,
            Item::Bool(b) => Val::Bool(b),
            Item::Int(i) => Val::Int(i as i128),
            Item::Big(i) => Val::Int(self.big[i as usize]),
            Item::Huge(i) => Val::Big(&self.huge[i as usize]),
            Item::Str(o, l) => Val::Str(
                std::str::from_utf8(&self.bytes[o as usize..(o + l) as usize]).unwrap_or(""),
            ),
            Item::Enum(e, i) => Val::Enum(e, i),
            Item::Bytes(o, l, k) => Val::Bytes(&self.bytes[o as usize..(o + l) as usize], k),
        })
    }

    /// The same document as a tree (what [`crate::decode::decode`] returns).
    pub fn to_value(&self) -> Value {
        let mut s = crate::decode::ValueSink::default();
        for n in &self.nodes {
            // ValueSink never fails
            let _ = match n.item {
                Item::Start => s.start(n.key, n.list, 0),
                Item::End => s.end(),
                _ => s.value(n.key, n.list, self.val(n).expect("simple value")),
            };
        }
        s.finish()
    }

    fn push_bytes(&mut self, b: &[u8]) -> (u32, u32) {
        let o = self.bytes.len() as u32;
        self.bytes.extend_from_slice(b);
        (o, b.len() as u32)
    }
}

impl Sink for Doc {
    #[inline]
    fn start(&mut self, key: u16, list: bool, _fields: u8) -> Result<(), Error> {
        self.nodes.push(Node {
            key,
            list,
            item: Item::Start,
        });
        Ok(())
    }
    #[inline]
    fn end(&mut self) -> Result<(), Error> {
        self.nodes.push(Node {
            key: 0,
            list: false,
            item: Item::End,
        });
        Ok(())
    }
    #[inline(always)]
    fn value(&mut self, key: u16, list: bool, v: Val<'_>) -> Result<(), Error> {
        let item = match v {
            Val::Bool(b) => Item::Bool(b),
            Val::Int(n) => match i64::try_from(n) {
                Ok(i) => Item::Int(i),
                Err(_) => {
                    self.big.push(n);
                    Item::Big(self.big.len() as u32 - 1)
                }
            },
            Val::Big(n) => {
                self.huge.push(n.clone());
                Item::Huge(self.huge.len() as u32 - 1)
            }
            Val::Str(s) => {
                let (o, l) = self.push_bytes(s.as_bytes());
                Item::Str(o, l)
            }
            Val::Enum(e, i) => Item::Enum(e, i),
            Val::Bytes(b, k) => {
                let (o, l) = self.push_bytes(b);
                Item::Bytes(o, l, k)
            }
        };
        self.nodes.push(Node { key, list, item });
        Ok(())
    }
}
