//! XML rendering of a document tree, in schema order with the schema's namespaces (for diagnostics and
//! for differential testing against XML-based EXI processors). Walks the grammar like the encoder does.

use crate::error::Error;
use crate::tables::{kind, shape, Prod, Schema, RELAXED};
use crate::text::{b64_encode, hex_encode};
use crate::value::{Bin, Value};
use crate::VALUE_KEY;

/// Render `root` (a map with one root element, or several for a fragment) as XML text.
pub fn to_xml(s: &'static Schema, root: &Value, fragment: bool) -> Result<String, Error> {
    let entries = match root {
        Value::Map(m) if !m.is_empty() => m,
        _ => return Err(Error::new(0, "the message must be a non-empty object", "")),
    };
    let st = &s.states[(if fragment { s.frag } else { s.doc }) as usize];
    let prods = &s.prods[st.first as usize..(st.first + st.n as u32) as usize];
    let mut out = String::with_capacity(256);
    let mut first = true;
    for (k, v) in entries {
        let items: Vec<&Value> = match v {
            Value::List(l) if fragment => l.iter().collect(),
            _ => vec![v],
        };
        for item in items {
            let p = prods
                .iter()
                .find(|p| p.lname == *k)
                .ok_or_else(|| Error::new(0, "unknown root element", "a global element"))?;
            if p.flags & RELAXED != 0 {
                relaxed(s, p, item, &mut out, first)?;
            } else {
                element(s, p, item, &mut out, first)?;
            }
            first = false;
        }
    }
    Ok(out)
}

fn prefix(s: &Schema, q: u16, out: &mut String) {
    let (ns, l) = s.qnames[q as usize];
    if !ns.is_empty() {
        // the index of the first qname with this namespace is a stable prefix per namespace
        let first = s.qnames.iter().position(|x| x.0 == ns).unwrap_or(0);
        out.push_str(&format!("n{first}:"));
    }
    out.push_str(s.lnames[l as usize]);
}

fn ns_decls(s: &Schema, out: &mut String) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, (ns, _)) in s.qnames.iter().enumerate() {
        if !ns.is_empty() && !seen.contains(ns) {
            seen.push(ns);
            out.push_str(&format!(" xmlns:n{i}=\"{ns}\""));
        }
    }
}

fn escape(x: &str, out: &mut String) {
    for c in x.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

fn text(v: &Value, out: &mut String) -> Result<(), Error> {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Big(n) => out.push_str(&n.to_string()),
        Value::Str(x) => escape(x, out),
        Value::Enum(x) => escape(x, out),
        Value::Bytes(b, Bin::Hex) => out.push_str(&hex_encode(b)),
        Value::Bytes(b, Bin::B64) => out.push_str(&b64_encode(b)),
        _ => return Err(Error::new(0, "expected a simple value", "")),
    }
    Ok(())
}

/// A fragment's element in the Schema-informed Element Fragment grammar (see [`RELAXED`]): its attributes (the
/// qname the element's own types declare for a shared local name) and its text.
fn relaxed(
    s: &'static Schema,
    p: &Prod,
    v: &Value,
    out: &mut String,
    root: bool,
) -> Result<(), Error> {
    let st = &s.states[p.arg as usize];
    let ats = &s.prods[st.first as usize..(st.first + st.n as u32) as usize];
    out.push('<');
    prefix(s, p.qname, out);
    if root {
        ns_decls(s, out);
    }
    let mut body = None;
    let entries: &[(u16, Value)] = match v {
        Value::Map(m) => m,
        _ => {
            body = Some(v);
            &[]
        }
    };
    for (k, x) in entries {
        if *k == VALUE_KEY {
            body = Some(x);
            continue;
        }
        let q = ats
            .iter()
            .find(|q| q.lname == *k && q.flags & 8 != 0)
            .or_else(|| ats.iter().find(|q| q.lname == *k))
            .ok_or_else(|| {
                Error::new(0, "not an attribute of the schema", "attributes and value")
            })?;
        out.push(' ');
        prefix(s, q.qname, out);
        out.push_str("=\"");
        text(x, out)?;
        out.push('"');
    }
    out.push('>');
    if let Some(b) = body {
        text(b, out)?;
    }
    out.push_str("</");
    prefix(s, p.qname, out);
    out.push('>');
    Ok(())
}

fn pending(v: &Value, c: u32) -> bool {
    match v {
        Value::List(l) => (c as usize) < l.len(),
        _ => c == 0,
    }
}

fn element(
    s: &'static Schema,
    p: &Prod,
    v: &Value,
    out: &mut String,
    root: bool,
) -> Result<(), Error> {
    out.push('<');
    prefix(s, p.qname, out);
    if root {
        ns_decls(s, out);
    }
    let shp = (p.flags >> 1) & 3;
    let single;
    let entries: &[(u16, Value)] = if shp == shape::SCALAR {
        single = [(VALUE_KEY, v.clone())];
        &single
    } else {
        match v {
            Value::Map(m) => m,
            _ => return Err(Error::new(0, "expected an object", "")),
        }
    };
    let mut cur = vec![0u32; entries.len()];
    let mut state = p.arg;
    let mut open = true;
    loop {
        let st = &s.states[state as usize];
        let prods = &s.prods[st.first as usize..(st.first + st.n as u32) as usize];
        let mut chosen = None;
        let mut ee = false;
        for (i, q) in prods.iter().enumerate() {
            let key = match q.kind {
                kind::AT | kind::SE => q.lname,
                kind::CH => VALUE_KEY,
                kind::EE => {
                    ee = true;
                    continue;
                }
                _ => continue,
            };
            if let Some(j) =
                (0..entries.len()).find(|&j| entries[j].0 == key && pending(&entries[j].1, cur[j]))
            {
                chosen = Some((i, j));
                break;
            }
        }
        let Some((i, j)) = chosen else {
            if !ee {
                return Err(Error::new(0, "missing required content", ""));
            }
            break;
        };
        let q = &prods[i];
        let ev = &entries[j].1;
        let item = match ev {
            Value::List(l) => &l[cur[j] as usize],
            _ => ev,
        };
        cur[j] += 1;
        match q.kind {
            kind::AT => {
                out.push(' ');
                prefix(s, q.qname, out);
                out.push_str("=\"");
                text(item, out)?;
                out.push('"');
            }
            kind::SE => {
                if open {
                    out.push('>');
                    open = false;
                }
                element(s, q, item, out, false)?;
            }
            _ => {
                if open {
                    out.push('>');
                    open = false;
                }
                text(item, out)?;
            }
        }
        state = q.next;
    }
    if open {
        out.push('>');
    }
    out.push_str("</");
    prefix(s, p.qname, out);
    out.push('>');
    Ok(())
}
