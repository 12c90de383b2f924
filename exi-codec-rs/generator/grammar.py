"""EXI schema-informed grammars (EXI 1.0 section 8.5.4) for a schema set.

Each complex type and each simple type gets a normalized grammar: a list of states, each with its declared
productions in event-code order.  Proto-grammars are built as an NFA (particles unrolled to their
minOccurs/maxOccurs as the spec's particle grammars are), then normalized by subset construction, which is
exactly the spec's epsilon elimination plus merging of productions with the same terminal.

Event codes (section 8.5.4.3) inside one state: AT(qname) sorted by local name then URI, then the SE
productions in schema (particle) order, substitution group members sorted by local name then URI, then
SE wildcards, then EE, then CH.  strict=false only adds second-level productions; for the first level it
means every state reserves one more event code (the escape to level two), which the runtime accounts for.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from simple import Simple, builtin, resolve_simple, simple_from_node
from xsd import XS, Ctx, Q, SchemaError, SchemaSet, xs

UNBOUNDED = -1


@dataclass
class Prod:
    kind: str  # AT, SE, EE, CH, SEW (SE wildcard), CHM (mixed CH, untyped)
    qname: Q = ("", "")
    target: object = None  # SE: type key; AT/CH: Simple
    next: int = -1  # state index within the type grammar
    pid: int = 0
    is_list: bool = False
    required: bool = False
    abstract: bool = False


@dataclass
class TypeGrammar:
    key: object
    name: str
    shape: str  # scalar | map | simplemap (attributes + text)
    states: list[list[Prod]] = field(default_factory=list)


@dataclass
class Particle:
    kind: str  # elem, seq, choice, any
    min: int = 1
    max: int = 1
    children: list[Particle] = field(default_factory=list)
    qnames: list[Q] = field(default_factory=list)  # elem: declared qname(s) (substitution group)
    types: list[object] = field(default_factory=list)  # elem: type keys per qname
    abstract: list[bool] = field(default_factory=list)  # elem: element or its type is abstract
    pid: int = 0


class Builder:
    """Builds the grammars of one schema set."""

    def __init__(self, ss: SchemaSet) -> None:
        self.ss = ss
        self.types: dict[object, TypeGrammar] = {}
        self.pid = 0
        self.pending: list[object] = []
        self.anon: dict[int, tuple[ET.Element, Ctx]] = {}
        self.simple_cache: dict[object, Simple] = {}

    # ---- type keys -------------------------------------------------------------------------------------
    def type_key_of_element(self, node: ET.Element, ctx: Ctx) -> object:
        t = node.get("type")
        if t:
            q = ctx.qname(t)
            if q[0] == XS:
                if q[1] == "anyType":
                    raise SchemaError("xs:anyType elements unsupported")
                return ("s", q)
            if q in self.ss.ctypes:
                return ("c", q)
            return ("s", q)
        ct = node.find(xs("complexType"))
        if ct is not None:
            self.anon[id(ct)] = (ct, ctx)
            return ("ac", id(ct), node.get("name") or node.get("ref"))
        st = node.find(xs("simpleType"))
        if st is not None:
            self.anon[id(st)] = (st, ctx)
            return ("as", id(st), node.get("name"))
        return ("s", (XS, "string"))  # untyped element: anyType; treat as string content

    def type_is_abstract(self, key: object) -> bool:
        assert isinstance(key, tuple)
        return key[0] == "c" and self.ss.ctypes[key[1]][0].get("abstract") == "true"

    def simple(self, key: object) -> Simple:
        if key in self.simple_cache:
            return self.simple_cache[key]
        assert isinstance(key, tuple)
        if key[0] == "s":
            s = resolve_simple(self.ss, key[1])
        elif key[0] == "as":
            node, ctx = self.anon[key[1]]
            s = simple_from_node(self.ss, node, ctx, key[2] or "")
        else:
            raise SchemaError(f"not a simple type {key}")
        self.simple_cache[key] = s
        return s

    def grammar(self, key: object) -> TypeGrammar:
        if key not in self.types:
            self.types[key] = TypeGrammar(key, "", "map")  # placeholder against recursion
            self.types[key] = self._build(key)
        return self.types[key]

    # ---- content models ----------------------------------------------------------------------------------
    def _complex_node(self, key: object) -> tuple[ET.Element, Ctx, str]:
        assert isinstance(key, tuple)
        if key[0] == "c":
            node, ctx = self.ss.ctypes[key[1]]
            return node, ctx, key[1][1]
        node, ctx = self.anon[key[1]]
        return node, ctx, f"{key[2]}(anon)"

    def content_of(self, node: ET.Element, ctx: Ctx) -> tuple[list[tuple[Q, Simple, bool]], str, object, bool]:
        """(attributes, content kind, content, mixed) of a complexType node."""
        mixed = node.get("mixed") == "true"
        attrs: list[tuple[Q, Simple, bool]] = []
        cc = node.find(xs("complexContent"))
        sc = node.find(xs("simpleContent"))
        if sc is not None:
            ext = sc.find(xs("extension"))
            if ext is None:
                raise SchemaError(f"{ctx.path}: simpleContent restriction unsupported")
            bq = ctx.qname(ext.get("base", ""))
            if bq in self.ss.ctypes:
                bnode, bctx = self.ss.ctypes[bq]
                battrs, bkind, bcontent, _ = self.content_of(bnode, bctx)
                if bkind != "simple":
                    raise SchemaError("simpleContent over complex content")
                attrs = battrs + self.attributes(ext, ctx)
                return attrs, "simple", bcontent, False
            return self.attributes(ext, ctx), "simple", self.simple(("s", bq)), False
        if cc is not None:
            mixed = mixed or cc.get("mixed") == "true"
            ext = cc.find(xs("extension"))
            if ext is not None:
                bq = ctx.qname(ext.get("base", ""))
                if bq == (XS, "anyType"):
                    battrs, bkind, bcontent = [], "empty", None
                else:
                    bnode, bctx = self.ss.ctypes[bq]
                    battrs, bkind, bcontent, bmixed = self.content_of(bnode, bctx)
                    mixed = mixed or bmixed
                own = self.particle_of(ext, ctx)
                attrs = battrs + self.attributes(ext, ctx)
                parts = [p for p in (bcontent if bkind == "complex" else None, own) if p is not None]
                if not parts:
                    return attrs, "empty", None, mixed
                if len(parts) == 1:
                    return attrs, "complex", parts[0], mixed
                return attrs, "complex", Particle("seq", children=parts), mixed  # type: ignore[arg-type]
            res = cc.find(xs("restriction"))
            if res is None:
                raise SchemaError("complexContent without extension/restriction")
            own = self.particle_of(res, ctx)
            attrs = self.attributes(res, ctx)
            return attrs, ("complex" if own else "empty"), own, mixed
        own = self.particle_of(node, ctx)
        return self.attributes(node, ctx), ("complex" if own else "empty"), own, mixed

    def attributes(self, node: ET.Element, ctx: Ctx) -> list[tuple[Q, Simple, bool]]:
        out = []
        for a in node.findall(xs("attribute")):
            if a.get("ref"):
                raise SchemaError("attribute refs unsupported")
            name = a.get("name", "")
            q = (ctx.tns if (a.get("form") == "qualified" or (a.get("form") is None and ctx.attr_qualified))
                 else "", name)
            if a.get("type"):
                st = self.simple(("s", ctx.qname(a.get("type", ""))))
            else:
                inner = a.find(xs("simpleType"))
                st = simple_from_node(self.ss, inner, ctx, name) if inner is not None else builtin("string")
            out.append((q, st, a.get("use") == "required"))
        if node.find(xs("anyAttribute")) is not None or node.find(xs("attributeGroup")) is not None:
            raise SchemaError(f"{ctx.path}: anyAttribute/attributeGroup unsupported")
        return out

    def particle_of(self, node: ET.Element, ctx: Ctx) -> Particle | None:
        for child in node:
            if child.tag in (xs("sequence"), xs("choice"), xs("all")):
                return self.particle(child, ctx)
            if child.tag == xs("group"):
                raise SchemaError("model groups by reference unsupported")
        return None

    def occurs(self, node: ET.Element) -> tuple[int, int]:
        mn = int(node.get("minOccurs", "1"))
        mx_s = node.get("maxOccurs", "1")
        return mn, (UNBOUNDED if mx_s == "unbounded" else int(mx_s))

    def particle(self, node: ET.Element, ctx: Ctx) -> Particle:
        mn, mx = self.occurs(node)
        tag = node.tag.split("}")[1]
        if tag in ("sequence", "choice"):
            kids = [self.particle(c, ctx) for c in node if c.tag != xs("annotation")]
            return Particle("seq" if tag == "sequence" else "choice", mn, mx, kids)
        if tag == "all":
            raise SchemaError("xs:all unsupported")
        if tag == "element":
            self.pid += 1
            if node.get("ref"):
                head = ctx.qname(node.get("ref", ""))
                members = self.ss.substitutes(head)
                qs, ts, ab = [], [], []
                for m in members:
                    mnode, mctx = self.ss.elements[m]
                    # EXIficient (and the captured streams) keep an abstract head in the substitution group's
                    # productions, so it is kept here too (it can never validly occur).
                    qs.append(m)
                    tk = self.type_key_of_element(mnode, mctx)
                    ts.append(tk)
                    ab.append(mnode.get("abstract") == "true" or self.type_is_abstract(tk))
                order = sorted(range(len(qs)), key=lambda i: (qs[i][1], qs[i][0]))
                return Particle("elem", mn, mx, qnames=[qs[i] for i in order], types=[ts[i] for i in order],
                                abstract=[ab[i] for i in order], pid=self.pid)
            name = node.get("name", "")
            form = node.get("form")
            q = (ctx.tns if (form == "qualified" or (form is None and ctx.elem_qualified)) else "", name)
            tk = self.type_key_of_element(node, ctx)
            return Particle("elem", mn, mx, qnames=[q], types=[tk], abstract=[self.type_is_abstract(tk)], pid=self.pid)
        if tag == "any":
            self.pid += 1
            return Particle("any", mn, mx, pid=self.pid)
        raise SchemaError(f"unsupported particle {tag}")

    # ---- NFA / DFA ----------------------------------------------------------------------------------------
    def _build(self, key: object) -> TypeGrammar:
        assert isinstance(key, tuple)
        if key[0] in ("s", "as"):
            st = self.simple(key)
            g = TypeGrammar(key, st.name, "scalar")
            g.states = [[Prod("CH", target=st, next=1)], [Prod("EE")]]
            return g
        node, ctx, name = self._complex_node(key)
        attrs, kind, content, mixed = self.content_of(node, ctx)
        nfa = Nfa()
        cur = nfa.new()
        start = cur
        for q, st, req in sorted(attrs, key=lambda a: (a[0][1], a[0][0])):
            n = nfa.new()
            nfa.sym(cur, Prod("AT", qname=q, target=st, required=req), n)
            if not req:
                nfa.eps(cur, n)
            cur = n
        content_start = cur
        if kind == "simple":
            n = nfa.new()
            assert isinstance(content, Simple)
            nfa.sym(cur, Prod("CH", target=content), n)
            cur = n
        elif kind == "complex":
            assert isinstance(content, Particle)
            # JAXB (and so the JSON dialect) holds the children of mixed content in one list.
            cur = self._emit(nfa, content, cur, UNBOUNDED if mixed else 1)
        nfa.accept = cur
        if mixed:
            content_nodes = nfa.reachable_from(content_start)
            for n in content_nodes:
                nfa.sym(n, Prod("CHM", target=builtin("string")), n)
        shape = "simplemap" if kind == "simple" else "map"
        g = TypeGrammar(key, name, shape)
        g.states = nfa.determinize()
        for state in g.states:
            for p in state:
                if p.kind == "SE":
                    self.grammar(p.target)
        return g

    def _emit(self, nfa: Nfa, p: Particle, start: int, mult: int) -> int:
        """Add particle ``p`` from node ``start``; returns the end node."""
        mx_eff = UNBOUNDED if (p.max == UNBOUNDED or mult == UNBOUNDED) else p.max * mult

        def term(frm: int) -> int:
            if p.kind == "elem":
                to = nfa.new()
                for q, t, ab in zip(p.qnames, p.types, p.abstract):
                    nfa.sym(frm, Prod("SE", qname=q, target=t, pid=p.pid, is_list=mx_eff == UNBOUNDED or mx_eff > 1,
                                      abstract=ab), to)
                return to
            if p.kind == "any":
                to = nfa.new()
                nfa.sym(frm, Prod("SEW", pid=p.pid), to)
                return to
            inner_mult = mx_eff
            if p.kind == "seq":
                cur = frm
                for c in p.children:
                    cur = self._emit(nfa, c, cur, inner_mult)
                return cur
            to = nfa.new()
            for c in p.children:
                e = self._emit(nfa, c, frm, inner_mult)
                nfa.eps(e, to)
            if not p.children:
                nfa.eps(frm, to)
            return to

        cur = start
        for _ in range(p.min):
            cur = term(cur)
        if p.max == UNBOUNDED:
            loop = nfa.new()
            nfa.eps(cur, loop)
            e = term(loop)
            nfa.eps(e, loop)
            return loop
        end = nfa.new()
        for _ in range(p.max - p.min):
            nfa.eps(cur, end)
            cur = term(cur)
        nfa.eps(cur, end)
        return end


class Nfa:
    def __init__(self) -> None:
        self.epsilon: list[list[int]] = []
        self.edges: list[list[tuple[Prod, int]]] = []
        self.accept = -1

    def new(self) -> int:
        self.epsilon.append([])
        self.edges.append([])
        return len(self.epsilon) - 1

    def eps(self, a: int, b: int) -> None:
        self.epsilon[a].append(b)

    def sym(self, a: int, p: Prod, b: int) -> None:
        self.edges[a].append((p, b))

    def closure(self, nodes: frozenset[int]) -> frozenset[int]:
        out = set(nodes)
        stack = list(nodes)
        while stack:
            n = stack.pop()
            for m in self.epsilon[n]:
                if m not in out:
                    out.add(m)
                    stack.append(m)
        return frozenset(out)

    def reachable_from(self, n0: int) -> set[int]:
        seen = {n0}
        stack = [n0]
        while stack:
            n = stack.pop()
            for m in self.epsilon[n] + [b for _, b in self.edges[n]]:
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    def determinize(self) -> list[list[Prod]]:
        start = self.closure(frozenset([0]))
        index = {start: 0}
        order = [start]
        states: list[list[Prod]] = []
        i = 0
        while i < len(order):
            cur = order[i]
            i += 1
            groups: dict[tuple[str, Q], tuple[Prod, set[int]]] = {}
            for n in sorted(cur):
                for p, b in self.edges[n]:
                    k = (p.kind, p.qname)
                    if k in groups:
                        groups[k][1].add(b)
                    else:
                        groups[k] = (p, {b})
            prods: list[Prod] = []
            for p, targets in groups.values():
                nxt = self.closure(frozenset(targets))
                if nxt not in index:
                    index[nxt] = len(order)
                    order.append(nxt)
                prods.append(Prod(p.kind, p.qname, p.target, index[nxt], p.pid, p.is_list, p.required, p.abstract))
            if self.accept in cur:
                prods.append(Prod("EE"))
            rank = {"AT": 0, "SE": 1, "SEW": 2, "EE": 3, "CH": 4, "CHM": 5}
            prods.sort(key=lambda p: (rank[p.kind], 0 if p.kind != "SE" else p.pid,
                                      p.qname[1] if p.kind != "SE" or True else "", p.qname[0]))
            states.append(prods)
        return states
