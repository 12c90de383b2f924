//! Integers wider than `i128`. `xs:integer` is unbounded and RFC 5280 serial numbers (ISO-2
//! `X509SerialNumber`) have up to 20 octets (160 bits). The codec holds every integer that fits in `i128` as
//! an `i128` (the fast path of every message); only wider ones take this form: sign and magnitude, the
//! magnitude as little-endian octets. Small and simple on purpose: the codec only moves these numbers
//! (EXI 7-bit groups, decimal text), it never computes with them.

use std::fmt;

/// Most bits of an integer's magnitude the codec accepts (EXI itself has no limit; this bounds the work an
/// untrusted stream can cause).
pub const MAX_BITS: usize = 1024;

/// An integer outside the `i128` range (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigInt {
    neg: bool,
    /// |value|, little-endian, without trailing zero octets.
    mag: Vec<u8>,
}

/// An integer: `i128` when it fits, else a [`BigInt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integer {
    /// Fits in `i128`.
    Small(i128),
    /// Does not.
    Big(BigInt),
}

fn trim(v: &mut Vec<u8>) {
    while v.last() == Some(&0) {
        v.pop();
    }
}

/// `v += 1` (little-endian magnitude).
fn inc(v: &mut Vec<u8>) {
    for b in v.iter_mut() {
        let (x, carry) = b.overflowing_add(1);
        *b = x;
        if !carry {
            return;
        }
    }
    v.push(1);
}

/// `v -= 1` (little-endian magnitude, `v > 0`).
fn dec(v: &mut Vec<u8>) {
    for b in v.iter_mut() {
        let (x, borrow) = b.overflowing_sub(1);
        *b = x;
        if !borrow {
            break;
        }
    }
    trim(v);
}

impl Integer {
    /// The integer `-mag` or `mag` (`mag` little-endian, any length); `None` when wider than [`MAX_BITS`].
    pub fn from_sign_magnitude(neg: bool, mut mag: Vec<u8>) -> Option<Integer> {
        trim(&mut mag);
        if mag.len() * 8 > MAX_BITS + 7 {
            return None;
        }
        if mag.len() <= 16 {
            let mut le = [0u8; 16];
            le[..mag.len()].copy_from_slice(&mag);
            let m = u128::from_le_bytes(le);
            if !neg && m <= i128::MAX as u128 {
                return Some(Integer::Small(m as i128));
            }
            if neg && m <= 1u128 << 127 {
                return Some(Integer::Small((m as i128).wrapping_neg()));
            }
        }
        Some(Integer::Big(BigInt { neg, mag }))
    }

    /// From the EXI form: sign bit and the unsigned integer that follows (for a negative number, its
    /// magnitude minus one; EXI 1.0 section 7.1.5), little-endian.
    pub fn from_exi(neg: bool, mut uint: Vec<u8>) -> Option<Integer> {
        if neg {
            inc(&mut uint);
        }
        Integer::from_sign_magnitude(neg, uint)
    }

    /// Parse decimal text (an optional `-` or `+`, then digits).
    pub fn parse(text: &str) -> Option<Integer> {
        if let Ok(n) = text.parse::<i128>() {
            return Some(Integer::Small(n));
        }
        let (neg, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if digits.len() > MAX_BITS * 30 / 100 + 2 {
            return None;
        }
        let mut mag: Vec<u8> = Vec::with_capacity(digits.len() / 2 + 1);
        for d in digits.bytes() {
            let mut carry = (d - b'0') as u32;
            for b in mag.iter_mut() {
                let x = *b as u32 * 10 + carry;
                *b = x as u8;
                carry = x >> 8;
            }
            if carry > 0 {
                mag.push(carry as u8);
            }
        }
        Integer::from_sign_magnitude(neg, mag)
    }
}

impl BigInt {
    /// Whether the value is negative.
    pub fn is_negative(&self) -> bool {
        self.neg
    }

    /// |value|, little-endian, without trailing zero octets.
    pub fn magnitude(&self) -> &[u8] {
        &self.mag
    }

    /// The unsigned integer of the EXI form (EXI 1.0 section 7.1.5): |value| for a positive number,
    /// |value| - 1 for a negative one; little-endian.
    pub fn exi_uint(&self) -> Vec<u8> {
        let mut m = self.mag.clone();
        if self.neg {
            dec(&mut m);
        }
        m
    }
}

impl fmt::Display for BigInt {
    /// Decimal text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // repeated division by 10^19 (one u64 chunk of digits at a time), most significant octet first
        const CHUNK: u64 = 10_000_000_000_000_000_000;
        let mut m: Vec<u8> = self.mag.iter().rev().copied().collect();
        let mut chunks: Vec<u64> = Vec::new();
        while !m.is_empty() {
            let mut rem: u128 = 0;
            for b in m.iter_mut() {
                let x = (rem << 8) | *b as u128;
                *b = (x / CHUNK as u128) as u8;
                rem = x % CHUNK as u128;
            }
            chunks.push(rem as u64);
            let lead = m.iter().take_while(|b| **b == 0).count();
            m.drain(..lead);
        }
        let mut s = String::with_capacity(chunks.len() * 19 + 1);
        if self.neg {
            s.push('-');
        }
        let mut it = chunks.iter().rev();
        if let Some(first) = it.next() {
            s.push_str(&first.to_string());
        }
        for c in it {
            s.push_str(&format!("{c:019}"));
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trip_and_bounds() {
        for t in [
            "170141183460469231731687303715884105728",  // i128::MAX + 1
            "-170141183460469231731687303715884105729", // i128::MIN - 1
            "1461501637330902918203684832716283019655932542975", // 2^160 - 1
            "-1461501637330902918203684832716283019655932542976",
        ] {
            match Integer::parse(t) {
                Some(Integer::Big(b)) => assert_eq!(b.to_string(), t),
                other => panic!("{t}: {other:?}"),
            }
        }
        assert_eq!(
            Integer::parse("-170141183460469231731687303715884105728"),
            Some(Integer::Small(i128::MIN))
        );
        assert_eq!(Integer::parse("12a"), None);
        assert_eq!(Integer::parse("-"), None);
        assert!(Integer::parse(&"9".repeat(400)).is_none()); // over MAX_BITS
                                                             // EXI form of -(2^160): sign, then 2^160 - 1
        let Some(Integer::Big(b)) =
            Integer::parse("-1461501637330902918203684832716283019655932542976")
        else {
            panic!()
        };
        assert_eq!(b.exi_uint(), vec![0xff; 20]);
        assert_eq!(
            Integer::from_exi(true, vec![0xff; 20]),
            Some(Integer::Big(b))
        );
    }
}
