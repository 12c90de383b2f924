"""Generate the EXI grammar tables of every V2G schema set as Rust source.

Usage (from the repository root):  python3 exi-codec-rs/generator/gen.py [--check]
Writes exi-codec-rs/core/src/generated/*.rs and josev/exi/types/*.py (committed). With --check nothing is
written and the exit status is 1 if any generated file differs from what the schemas give (for CI).
Only the Python standard library is needed.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from grammar import Builder, Prod, TypeGrammar  # noqa: E402
from simple import Simple  # noqa: E402
from typed import generate_typed  # noqa: E402
from xsd import SchemaSet  # noqa: E402

SCHEMAS = os.path.join(HERE, "..", "schemas")
OUT = os.path.join(HERE, "..", "core", "src", "generated")
PY_OUT = os.path.join(HERE, "..", "..", "josev", "exi", "types")

# name -> (root xsd, namespace of the message set)
SETS: dict[str, tuple[str, str]] = {
    "sap": ("V2G_CI_AppProtocol.xsd", "urn:iso:15118:2:2010:AppProtocol"),
    "din": ("din_spec/V2G_CI_MsgDef.xsd", "urn:din:70121:2012:MsgDef"),
    "iso2": ("iso15118_2/V2G_CI_MsgDef.xsd", "urn:iso:15118:2:2013:MsgDef"),
    "iso20-cm": ("iso15118_20/V2G_CI_CommonMessages.xsd", "urn:iso:std:iso:15118:-20:CommonMessages"),
    "iso20-ac": ("iso15118_20/V2G_CI_AC.xsd", "urn:iso:std:iso:15118:-20:AC"),
    "iso20-dc": ("iso15118_20/V2G_CI_DC.xsd", "urn:iso:std:iso:15118:-20:DC"),
    "iso20-wpt": ("iso15118_20/V2G_CI_WPT.xsd", "urn:iso:std:iso:15118:-20:WPT"),
    "iso20-acdp": ("iso15118_20/V2G_CI_ACDP.xsd", "urn:iso:std:iso:15118:-20:ACDP"),
    # XMLDSig alone: the grammar OpenV2G-style stacks use for SignedInfo fragments.
    "xmldsig": ("xmldsig-core-schema.xsd", "http://www.w3.org/2000/09/xmldsig#"),
}

KIND = {"AT": 0, "SE": 1, "EE": 2, "CH": 3, "SEW": 4, "CHM": 5}
SHAPE = {"scalar": 0, "map": 1, "simplemap": 2}
I128_MIN = "i128::MIN"
I128_MAX = "i128::MAX"


def bits(n: int) -> int:
    """Number of bits to encode 0..n-1."""
    b = 0
    while (1 << b) < n:
        b += 1
    return b


def rust_ident(name: str) -> str:
    return name.replace("-", "_").upper()


class Emitter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.lnames: dict[str, int] = {}
        self.qnames: dict[tuple[str, str], int] = {}
        self.simples: dict[Simple, int] = {}
        self.enum_values: list[str] = []
        self.states: list[tuple[int, int, int, int, int]] = []  # first prod, count, width, fields, ee2
        self.prods: list[tuple[int, int, int, int, int, int]] = []

    def lname(self, local: str) -> int:
        return self.lnames.setdefault(local, len(self.lnames))

    def qname(self, q: tuple[str, str]) -> int:
        self.lname(q[1])
        return self.qnames.setdefault(q, len(self.qnames))

    def simple(self, s: Simple) -> int:
        if s not in self.simples:
            self.simples[s] = len(self.simples)
        return self.simples[s]

    def simple_row(self, s: Simple) -> str:
        kinds = {"bool": 0, "enum": 4, "string": 5, "hex": 6, "b64": 7}
        lo = I128_MIN if s.lo is None else str(s.lo)
        hi = I128_MAX if s.hi is None else str(s.hi)
        nb = 0
        enum_first = 0
        if s.kind == "int":
            kind = {"nbit": 1, "unsigned": 2, "signed": 3}[s.int_repr]
            if kind == 1:
                assert s.lo is not None and s.hi is not None
                nb = bits(s.hi - s.lo + 1)
        else:
            kind = kinds[s.kind]
        if s.kind == "enum":
            nb = bits(len(s.values))
            enum_first = len(self.enum_values)
            self.enum_values.extend(s.values)
        min_len = 0 if s.min_len is None else s.min_len
        max_len = "u32::MAX" if s.max_len is None else str(s.max_len)
        return (f"    Simple {{ kind: {kind}, bits: {nb}, lo: {lo}, hi: {hi}, min_len: {min_len}, "
                f"max_len: {max_len}, enum_first: {enum_first}, enum_n: {len(s.values)} }}, // {s.name}")


def generate(name: str) -> tuple[str, str]:
    root, namespace = SETS[name]
    ss = SchemaSet(SCHEMAS)
    ss.load(os.path.join(SCHEMAS, root))
    b = Builder(ss)
    globals_sorted = sorted(ss.elements, key=lambda q: (q[1], q[0]))
    gkeys = []
    for q in globals_sorted:
        node, ctx = ss.elements[q]
        k = b.type_key_of_element(node, ctx)
        b.grammar(k)
        gkeys.append(k)
    # Stable ordering of type grammars: by first appearance (depth-first from the sorted globals).
    order: list[object] = []
    seen: set[object] = set()

    def visit(k: object) -> None:
        if k in seen:
            return
        seen.add(k)
        order.append(k)
        for st in b.types[k].states:
            for p in st:
                if p.kind == "SE":
                    visit(p.target)

    for k in gkeys:
        visit(k)
    # Named complex types that no element uses still declare local elements (fragment grammar).
    named = sorted(ss.ctypes, key=lambda q: (q[1], q[0]))
    for cq in named:
        b.grammar(("c", cq))
    for cq in named:
        visit(("c", cq))
    em = Emitter(name)
    base: dict[object, int] = {}
    n = 0
    for k in order:
        base[k] = n
        n += len(b.types[k].states)
    comments: list[str] = []
    for k in order:
        g: TypeGrammar = b.types[k]
        comments.append(f"// type {g.name or k} -> state {base[k]}")
        nfields = len({(p.kind == "CH", p.qname[1]) for st in g.states for p in st if p.kind in ("AT", "SE", "CH")})
        nattrs = len({p.qname for st in g.states for p in st if p.kind == "AT"})
        for i, st in enumerate(g.states):
            first = len(em.prods)
            for p in st:
                em.prods.append(prod_row(em, b, base, k, p))
            em.states.append((first, len(st), bits(len(st) + 1), min(nfields, 255) if i == 0 else 0,
                              ee2_width(st, i == 0, nattrs)))
    # Document grammar: SE(G_0..G_n-1) then SE(*) (level 1), no ED at DocContent.
    doc_state = len(em.states)
    first = len(em.prods)
    for q, k in zip(globals_sorted, gkeys):
        ab = ss.elements[q][0].get("abstract") == "true" or b.type_is_abstract(k)
        em.prods.append((1, em.lname(q[1]), em.qname(q), base[k], 0, shape_flags(b.types[k], False) | (16 if ab else 0)))
    em.states.append((first, len(globals_sorted), bits(len(globals_sorted) + 1), 0, 0))
    # Fragment grammar: every element declaration (global and local, including those inside complex types
    # no element refers to, as EXIficient collects them) by unique qname, sorted; ED is n+1.
    decls: dict[tuple[str, str], set[object]] = {}
    for q, k in zip(globals_sorted, gkeys):
        decls.setdefault(q, set()).add(k)
    for k in order:
        for st in b.types[k].states:
            for p in st:
                if p.kind == "SE":
                    decls.setdefault(p.qname, set()).add(p.target)
    frag_state = len(em.states)
    fq = sorted(decls, key=lambda q: (q[1], q[0]))
    # Schema-informed Element Fragment grammar (EXI 1.0 section 8.5.3): the content of an element whose qname
    # has several declarations of different types (ISO-2 eMAID). One state holds AT(A_0..A_n-1), the unique
    # attribute qnames of the schema sorted by local name then URI (typed when every declaration has the same
    # type, else string); the runtime derives the other codes: AT(*) n, SE(F_j) n+1+j, SE(*) n+m+1, EE n+m+2,
    # CH[untyped] n+m+3 in ElementFragment_0, and SE(F_j) j, SE(*) m, EE m+1, CH m+2 in ElementFragment_1.
    efrag_state = len(em.states) + 1
    ambiguous = any(len(decls[q]) > 1 for q in fq)
    first = len(em.prods)
    for q in fq:
        ks = decls[q]
        if len(ks) == 1:
            (k,) = ks
            em.prods.append((1, em.lname(q[1]), em.qname(q), base[k], 0, shape_flags(b.types[k], False)))
        else:  # ambiguous declaration: the relaxed Element Fragment grammar (flag 32)
            em.prods.append((1, em.lname(q[1]), em.qname(q), efrag_state, 0, 32 | (SHAPE["simplemap"] << 1)))
    em.states.append((first, len(fq), bits(len(fq) + 2), 0, 0))
    if ambiguous:
        attrs: dict[tuple[str, str], set[Simple]] = {}
        for k in order:
            for st in b.types[k].states:
                for p in st:
                    if p.kind == "AT":
                        attrs.setdefault(p.qname, set()).add(p.target)
        # the attributes the ambiguous elements' own types declare (flag 8): the qname the encoder picks for a
        # local name several attribute qnames share (ISO-2 Id: the {MsgDataTypes}Id of EMAIDType)
        own = {
            p.qname
            for q in fq
            if len(decls[q]) > 1
            for k in decls[q]
            for st in b.types[k].states
            for p in st
            if p.kind == "AT"
        }
        first = len(em.prods)
        aq = sorted(attrs, key=lambda q: (q[1], q[0]))
        for q in aq:
            ts = attrs[q]
            st_ = next(iter(ts)) if len(ts) == 1 else Simple("string", name="string")
            em.prods.append((0, em.lname(q[1]), em.qname(q), em.simple(st_), efrag_state, 8 if q in own else 0))
        # after the n declared AT productions, outside the state: CH [untyped value] (a plain string)
        em.prods.append((3, 0, 0, em.simple(Simple("string", name="string")), efrag_state, 0))
        em.states.append((first, len(aq), bits(len(aq) + len(fq) + 4 + 1), 0, 0))
    simple_rows = [em.simple_row(s) for s in em.simples]
    ident = rust_ident(name)
    lines = [
        "// @generated by exi-codec-rs/generator/gen.py from exi-codec-rs/schemas/ -- DO NOT EDIT.",
        f"//! Grammar tables of the `{name}` schema set ({root}).",
        "#![allow(clippy::all)]",
        "use crate::tables::{p, s, Prod, Schema, Simple, State};",
        "",
        f"static LNAMES: [&str; {len(em.lnames)}] = [",
        *[f"    {rust_str(s)}," for s in em.lnames],
        "];",
        f"static QNAMES: [(&str, u16); {len(em.qnames)}] = [",
        *[f"    ({rust_str(q[0])}, {em.lnames[q[1]]})," for q in em.qnames],
        "];",
        f"static ENUMS: [&str; {len(em.enum_values)}] = [",
        *[f"    {rust_str(s)}," for s in em.enum_values],
        "];",
        f"static SIMPLES: [Simple; {len(simple_rows)}] = [",
        *simple_rows,
        "];",
        *comments,
        f"static STATES: [State; {len(em.states)}] = [",
        *[f"    s({a}, {c}, {w}, {f}, {e})," for a, c, w, f, e in em.states],
        "];",
        f"static PRODS: [Prod; {len(em.prods)}] = [",
        *[f"    p({a}, {b_}, {c}, {d}, {e}, {f})," for a, b_, c, d, e, f in em.prods],
        "];",
        "",
        f"/// Tables of the `{name}` schema set.",
        f"pub static {ident}: Schema = Schema {{",
        f"    name: {rust_str(name)},",
        f"    namespace: {rust_str(namespace)},",
        "    lnames: &LNAMES,",
        "    qnames: &QNAMES,",
        "    enums: &ENUMS,",
        "    simples: &SIMPLES,",
        "    states: &STATES,",
        "    prods: &PRODS,",
        f"    doc: {doc_state},",
        f"    frag: {frag_state},",
        "};",
        "",
    ]
    typed = generate_typed(name, b, order, [(q[1], k) for q, k in zip(globals_sorted, gkeys)])
    return "\n".join(lines), typed


def ee2_width(st: list[Prod], start: bool, nattrs: int) -> int:
    """Width of the second-level event code of a state that expects simple content but has no declared EE.

    EXIficient writes an element with an empty value (no character events) as the second-level EE there.
    strict=false second level (EXI 8.5.4.4.1): EE, AT(xsi:type) and AT(xsi:nil) (first state only), AT(*),
    AT(qname)[untyped] per attribute use, SE(*), CH[untyped]; EE has code 0. 0 = not applicable.
    """
    if not any(p.kind == "CH" for p in st) or any(p.kind == "EE" for p in st):
        return 0
    return bits(1 + (2 if start else 0) + 1 + nattrs + 2)


def shape_flags(g: TypeGrammar, is_list: bool) -> int:
    return (1 if is_list else 0) | (SHAPE[g.shape] << 1)


def prod_row(em: Emitter, b: Builder, base: dict[object, int], k: object, p: Prod) -> tuple[int, int, int, int, int, int]:
    kind = KIND[p.kind]
    nxt = base[k] + p.next if p.next >= 0 else 0
    if p.kind == "SE":
        child = b.types[p.target]
        flags = shape_flags(child, p.is_list) | (16 if p.abstract else 0)
        return (kind, em.lname(p.qname[1]), em.qname(p.qname), base[p.target], nxt, flags)
    if p.kind == "AT":
        return (kind, em.lname(p.qname[1]), em.qname(p.qname), em.simple(p.target), nxt, 8 if p.required else 0)
    if p.kind in ("CH", "CHM"):
        return (kind, 0, 0, em.simple(p.target), nxt, 0)
    return (kind, 0, 0, 0, nxt, 0)


def rust_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def outputs() -> dict[str, str]:
    """Path -> content of every generated file."""
    files: dict[str, str] = {}
    mods = []
    for name in SETS:
        src, typed = generate(name)
        mod = name.replace("-", "_")
        mods.append(mod)
        files[os.path.join(OUT, f"{mod}.rs")] = src
        files[os.path.join(PY_OUT, f"{mod}.py")] = typed
    files[os.path.join(PY_OUT, "__init__.py")] = (
        "# @generated by exi-codec-rs/generator/gen.py -- DO NOT EDIT.\n"
        '"""Generated TypedDict views of every schema set (one module per schema)."""\n'
    )
    lines = [
        "// @generated by exi-codec-rs/generator/gen.py -- DO NOT EDIT.",
        "//! Generated grammar tables, one module per schema set.",
        *[f"pub mod {m};" for m in mods],
        "",
        "/// All schema sets by name.",
        f"pub static ALL: [&crate::tables::Schema; {len(mods)}] = [",
        *[f"    &{m}::{rust_ident(m)}," for m in mods],
        "];",
        "",
    ]
    files[os.path.join(OUT, "mod.rs")] = "\n".join(lines)
    return files


def main() -> None:
    check = "--check" in sys.argv[1:]
    stale = []
    for path, content in outputs().items():
        path = os.path.normpath(path)
        if check:
            try:
                with open(path, encoding="utf-8") as fh:
                    if fh.read() != content:
                        stale.append(path)
            except FileNotFoundError:
                stale.append(path)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(content)
    if stale:
        print("generated files are out of date (run python3 exi-codec-rs/generator/gen.py):", file=sys.stderr)
        for p in stale:
            print(f"  {p}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
