//! Text forms: hex, base64 and the JSON dialect (EXIficient/Josev JSON: element and attribute names as
//! keys, lists for repeated elements, hexBinary as upper-case hex, base64Binary as base64).

use crate::error::Error;
use crate::tables::Schema;
use crate::value::{Bin, Value};
use crate::VALUE_KEY;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Upper-case hex.
pub fn hex_encode(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// Hex (either case) to bytes.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() & 1 == 1 {
        return None;
    }
    let nib = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    b.chunks(2)
        .map(|p| Some(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

/// The value of one hex digit (either case); 0xff if `c` is not one.
#[inline]
fn nib(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0xff,
    }
}

/// Hex (either case) into `out` (cleared first); false if `s` is not hex.
pub fn hex_decode_into(s: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    let b = s.as_bytes();
    if b.len() & 1 == 1 {
        return false;
    }
    out.reserve(b.len() / 2);
    let mut bad = 0u8;
    for p in b.chunks_exact(2) {
        let (h, l) = (nib(p[0]), nib(p[1]));
        bad |= (h | l) & 0xf0;
        out.push(h << 4 | (l & 15));
    }
    bad == 0
}

/// Hex (either case) into the front of `out`: the number of octets, `None` if `s` is not hex or does not
/// fit (the caller then uses [`hex_decode_into`]).
pub fn hex_decode_to(s: &str, out: &mut [u8]) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() & 1 == 1 || b.len() / 2 > out.len() {
        return None;
    }
    let mut bad = 0u8;
    for (p, o) in b.chunks_exact(2).zip(out.iter_mut()) {
        let (h, l) = (nib(p[0]), nib(p[1]));
        bad |= (h | l) & 0xf0;
        *o = h << 4 | (l & 15);
    }
    (bad == 0).then_some(b.len() / 2)
}

/// Base64 into `out` (cleared first); false if `s` is not base64.
pub fn b64_decode_into(s: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    match b64_decode(s) {
        Some(v) => {
            out.extend_from_slice(&v);
            true
        }
        None => false,
    }
}

/// Standard base64 with padding.
pub fn b64_encode(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        s.push(B64[(n >> 18) as usize & 63] as char);
        s.push(B64[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if c.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

/// Base64 (standard alphabet; padding optional; whitespace ignored) to bytes.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut n = 0;
    let mut pad = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                pad += 1;
                continue;
            }
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        if pad > 0 {
            return None;
        }
        acc = acc << 6 | v as u32;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        0 => {}
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return None,
    }
    if pad > 2 {
        return None;
    }
    Some(out)
}

/// The JSON key of a map entry.
pub fn key_name(s: &Schema, k: u16) -> &'static str {
    if k == VALUE_KEY {
        crate::VALUE_NAME
    } else {
        s.lnames[k as usize]
    }
}

/// Serialize a document tree as compact JSON.
pub fn to_json(s: &Schema, v: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_json(s, v, &mut out);
    out
}

fn write_str(x: &str, out: &mut String) {
    out.push('"');
    for c in x.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json(s: &Schema, v: &Value, out: &mut String) {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Big(n) => out.push_str(&n.to_string()),
        Value::Str(x) => write_str(x, out),
        Value::Enum(x) => write_str(x, out),
        Value::Bytes(b, Bin::Hex) => write_str(&hex_encode(b), out),
        Value::Bytes(b, Bin::B64) => write_str(&b64_encode(b), out),
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(s, x, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(key_name(s, *k), out);
                out.push(':');
                write_json(s, x, out);
            }
            out.push('}');
        }
    }
}

/// Parse the JSON dialect into a document tree (keys must be names the schema declares).
pub fn from_json(s: &Schema, text: &str) -> Result<Value, Error> {
    let mut p = Parser {
        b: text.as_bytes(),
        i: 0,
        s,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing characters after JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    s: &'a Schema,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, m: &str) -> Error {
        Error::new(
            0,
            format!("JSON error at character {}: {}", self.i, m),
            "valid JSON message",
        )
    }
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Result<(), Error> {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }
    fn value(&mut self) -> Result<Value, Error> {
        self.ws();
        self.depth += 1;
        if self.depth > 200 {
            return Err(self.err("nesting too deep"));
        }
        let r = match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let k = self.string()?;
                        let id = if k == crate::VALUE_NAME {
                            VALUE_KEY
                        } else {
                            self.s.lname_id(&k).ok_or_else(|| {
                                self.err(&format!("unknown name {k:?} in schema {}", self.s.name))
                            })?
                        };
                        self.eat(b':')?;
                        self.ws();
                        if self.b[self.i..].starts_with(b"null") {
                            self.i += 4; // null = absent (as EXIficient's JSON layer treats it)
                        } else {
                            let v = self.value()?;
                            m.push((id, v));
                        }
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or '}'")),
                        }
                    }
                }
                Value::Map(m)
            }
            Some(b'[') => {
                self.i += 1;
                let mut l = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        l.push(self.value()?);
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or ']'")),
                        }
                    }
                }
                Value::List(l)
            }
            Some(b'"') => Value::Str(self.string()?),
            Some(b't') if self.b[self.i..].starts_with(b"true") => {
                self.i += 4;
                Value::Bool(true)
            }
            Some(b'f') if self.b[self.i..].starts_with(b"false") => {
                self.i += 5;
                Value::Bool(false)
            }
            Some(b'-' | b'0'..=b'9') => {
                let st = self.i;
                self.i += 1;
                while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                if matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
                    return Err(self.err("only integers are allowed"));
                }
                let t =
                    std::str::from_utf8(&self.b[st..self.i]).map_err(|_| self.err("bad number"))?;
                Value::integer(
                    crate::bigint::Integer::parse(t)
                        .ok_or_else(|| self.err("integer out of range"))?,
                )
            }
            _ => return Err(self.err("unexpected character")),
        };
        self.depth -= 1;
        Ok(r)
    }
    fn string(&mut self) -> Result<String, Error> {
        if self.b.get(self.i) != Some(&b'"') {
            return Err(self.err("expected a string"));
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.i < self.b.len() && self.b[self.i] != b'"' && self.b[self.i] != b'\\' {
                self.i += 1;
            }
            out.push_str(
                std::str::from_utf8(&self.b[start..self.i])
                    .map_err(|_| self.err("invalid UTF-8"))?,
            );
            match self.b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = *self.b.get(self.i).ok_or_else(|| self.err("bad escape"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.b[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3ff);
                            }
                            out.push(
                                char::from_u32(cp).ok_or_else(|| self.err("invalid \\u escape"))?,
                            );
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                _ => return Err(self.err("unterminated string")),
            }
        }
    }
    fn hex4(&mut self) -> Result<u32, Error> {
        let t = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("bad \\u escape"))?;
        let t = std::str::from_utf8(t).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        u32::from_str_radix(t, 16).map_err(|_| self.err("bad \\u escape"))
    }
}
