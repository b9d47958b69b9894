#!/usr/bin/env python3
"""Skein's protocol code generator.

Reads Apache Kafka's JSON message specs and writes, for every message, one C
struct covering all its versions with init/decode/encode/size functions taking
the version, plus a random filler used by the round-trip tests, and the tables
the broker dispatches on (api key -> codecs, metadata record type -> codecs).

Usage: kpgen.py SPEC_DIR OUT_DIR
"""
import json
import os
import re
import sys

INF = 0x7FFF
C_KEYWORDS = {"auto", "break", "case", "char", "const", "continue", "default", "do",
              "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline",
              "int", "long", "register", "restrict", "return", "short", "signed", "sizeof",
              "static", "struct", "switch", "typedef", "union", "unsigned", "void",
              "volatile", "while", "bool", "true", "false"}

PRIM = {
    # type: (c type, read fn, write fn, wire size, rand expr)
    "bool": ("bool", "bool", "bool", 1, "(kp_rng_next(g) & 1) != 0"),
    "int8": ("int8_t", "i8", "i8", 1, "(int8_t)kp_rng_next(g)"),
    "int16": ("int16_t", "i16", "i16", 2, "(int16_t)kp_rng_next(g)"),
    "uint16": ("uint16_t", "u16", "u16", 2, "(uint16_t)kp_rng_next(g)"),
    "int32": ("int32_t", "i32", "i32", 4, "(int32_t)kp_rng_next(g)"),
    "uint32": ("uint32_t", "u32", "u32", 4, "(uint32_t)kp_rng_next(g)"),
    "int64": ("int64_t", "i64", "i64", 8, "(int64_t)kp_rng_next(g)"),
    "float64": ("double", "f64", "f64", 8, "(double)(int32_t)kp_rng_next(g) / 8.0"),
}
PRIM_ARR = {"int8": "kp_arr_i8", "int16": "kp_arr_i16", "int32": "kp_arr_i32",
            "int64": "kp_arr_i64", "string": "kp_arr_str", "uuid": "kp_arr_uuid"}


def strip_comments(text):
    out = []
    for line in text.splitlines():
        # Comments are whole-line or trailing; none of the specs has "//" in a string.
        idx = line.find("//")
        out.append(line if idx < 0 else line[:idx])
    return "\n".join(out)


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = s.lower()
    return s + "_" if s in C_KEYWORDS else s


def vrange(spec, valid=None):
    """Parses "0+", "1-3", "3", "none" into (lo, hi) or None."""
    if spec is None or spec == "none":
        return None
    spec = spec.strip()
    if spec.endswith("+"):
        lo, hi = int(spec[:-1]), INF
    elif "-" in spec:
        a, b = spec.split("-")
        lo, hi = int(a), int(b)
    else:
        lo = hi = int(spec)
    if valid is not None:
        lo, hi = max(lo, valid[0]), min(hi, valid[1])
        if lo > hi:
            return None
    return (lo, hi)


def vcond(r, valid):
    """C condition on `v` for range r, simplified against the valid range."""
    if r is None:
        return "0"
    lo, hi = r
    parts = []
    if lo > valid[0]:
        parts.append(f"v >= {lo}")
    if hi < valid[1]:
        parts.append(f"v <= {hi}")
    return " && ".join(parts) if parts else "1"


def vin(r, v):
    return r is not None and r[0] <= v <= r[1]


class Field:
    def __init__(self, js, msg, owner_prefix):
        self.js = js
        self.name = js["name"]
        self.cname = snake(self.name)
        self.type = js["type"].strip()
        self.versions = vrange(js.get("versions"), msg.valid)
        self.nullable = vrange(js.get("nullableVersions"), msg.valid)
        self.tagged = vrange(js.get("taggedVersions"), msg.valid)
        self.tag = None if js.get("tag") is None else int(js.get("tag"))
        self.ignorable = js.get("ignorable", False)
        d = js.get("default")
        if isinstance(d, bool):
            d = "true" if d else "false"
        self.default = None if d is None else str(d)
        fv = js.get("flexibleVersions")
        self.flex_override = None if fv is None else vrange(fv, msg.valid)
        self.is_array = self.type.startswith("[]")
        self.elem = self.type[2:] if self.is_array else self.type
        self.struct = None
        if self.elem not in PRIM and self.elem not in ("string", "bytes", "records", "uuid"):
            self.struct = msg.struct_for(self.elem, js.get("fields"), owner_prefix)


class Struct:
    def __init__(self, name, cname, msg):
        self.name = name
        self.cname = cname
        self.msg = msg
        self.fields = []


class Message:
    def __init__(self, js, path):
        self.js = js
        self.path = path
        self.name = js["name"]
        self.kind = js["type"]
        self.api_key = js.get("apiKey")
        self.valid = vrange(js["validVersions"])
        self.flexible = vrange(js.get("flexibleVersions"), self.valid)
        self.unstable_latest = js.get("latestVersionUnstable", False)
        self.listeners = js.get("listeners", [])
        self.prefix = "kp_" + snake(self.name).rstrip("_")
        self.structs = []  # children first
        self.by_name = {}
        self.common = {s["name"]: s for s in js.get("commonStructs", [])}
        self.top = Struct(self.name, self.prefix, self)
        self.top.fields = [Field(f, self, self.prefix) for f in js.get("fields", [])]
        self.structs.append(self.top)

    def struct_for(self, name, fields, owner_prefix):
        if name in self.by_name:
            return self.by_name[name]
        if fields is None:
            if name not in self.common:
                raise SystemExit(f"{self.path}: unknown struct type {name}")
            fields = self.common[name]["fields"]
        s = Struct(name, self.prefix + "_" + snake(name).rstrip("_"), self)
        self.by_name[name] = s
        s.fields = [Field(f, self, s.cname) for f in fields]
        self.structs.append(s)
        return s


# ---- C generation ------------------------------------------------------------


def ctype(f):
    if f.is_array:
        if f.struct:
            return f.struct.cname + "_arr"
        return PRIM_ARR[f.elem]
    if f.struct:
        return f.struct.cname + ("*" if f.nullable else "")
    if f.type in PRIM:
        return PRIM[f.type][0]
    return {"string": "kp_str", "bytes": "kp_bytes", "records": "kp_bytes", "uuid": "kp_uuid"}[f.type]


def default_assign(f, lhs):
    """Statements that set lhs to the field's default."""
    d = f.default
    if f.is_array:
        return [f"{lhs}.n = {'-1' if d == 'null' else '0'};", f"{lhs}.v = NULL;"]
    if f.struct:
        if f.nullable:
            return [f"{lhs} = NULL;"]
        return [f"{f.struct.cname}_init(&{lhs});"]
    if f.type == "string":
        if d == "null":
            return [f"{lhs} = KP_STR_NULL;"]
        return [f"{lhs} = kp_str_c({json.dumps(d or '')});"]
    if f.type in ("bytes", "records"):
        return [f"{lhs} = {'KP_BYTES_NULL' if d == 'null' else '(kp_bytes){NULL, 0}'};"]
    if f.type == "uuid":
        return [f"memset(&{lhs}, 0, sizeof {lhs});"]
    if f.type == "bool":
        return [f"{lhs} = {'true' if d == 'true' else 'false'};"]
    if d is None or d == "":
        return [f"{lhs} = 0;"]
    return [f"{lhs} = {c_number(f, d)};"]


def c_number(f, d):
    if f.type == "float64":
        return d
    v = int(d, 0)
    if v == -2**31:
        return "INT32_MIN"
    if f.type == "int64":
        return f"INT64_C({v})"
    return str(v)


def nondefault_expr(f, lhs):
    """C expression true when lhs differs from the field's default."""
    d = f.default
    if f.is_array:
        return f"{lhs}.n != {'-1' if d == 'null' else '0'}"
    if f.struct:
        if f.nullable:
            return f"{lhs} != NULL"
        return f"!{f.struct.cname}_is_default(&{lhs})"
    if f.type == "string":
        return f"!kp_str_eq_c({lhs}, {'NULL' if d == 'null' else json.dumps(d or '')})"
    if f.type in ("bytes", "records"):
        return f"{lhs}.len != {'-1' if d == 'null' else '0'}"
    if f.type == "uuid":
        return f"!kp_uuid_is_zero(&{lhs})"
    if f.type == "bool":
        return f"{lhs} != {'true' if d == 'true' else 'false'}"
    if d is None or d == "":
        return f"{lhs} != 0"
    return f"{lhs} != {c_number(f, d)}"


def compact_expr(f, msg):
    """C expression: does field f use compact encodings at version v."""
    if f.flex_override is not None or "flexibleVersions" in f.js:
        return vcond(f.flex_override, msg.valid) if f.flex_override else "0"
    return "flex"


def null_expr(f, msg):
    return vcond(f.nullable, msg.valid) if f.nullable else "0"


def min_size(s, seen=None):
    """A lower bound on the wire size of one struct element, for any version."""
    seen = seen or set()
    if s.cname in seen:
        return 1
    msg = s.msg
    best = None
    for v in range(msg.valid[0], msg.valid[1] + 1):
        n = 1 if vin(msg.flexible, v) else 0
        for f in s.fields:
            if not vin(f.versions, v) or vin(f.tagged, v):
                continue
            n += field_min_size(f, seen | {s.cname})
        best = n if best is None else min(best, n)
    return max(best or 1, 1)


def field_min_size(f, seen):
    if f.is_array:
        return 1
    if f.struct:
        return 1 if f.nullable else min_size(f.struct, seen)
    if f.type in PRIM:
        return PRIM[f.type][3]
    if f.type == "uuid":
        return 16
    return 1


def elem_min_size(f):
    if f.struct:
        return min_size(f.struct)
    if f.elem in PRIM:
        return PRIM[f.elem][3]
    return 16 if f.elem == "uuid" else 1


class Emitter:
    def __init__(self):
        self.lines = []
        self.ind = 0

    def __call__(self, *lines):
        for line in lines:
            self.lines.append(("    " * self.ind + line) if line else "")

    def block(self, head):
        self((head + " {") if head else "{")
        self.ind += 1

    def end(self, tail="}"):
        self.ind -= 1
        self(tail)


# ---- decode -------------------------------------------------------------------


def dec_scalar(e, f, lhs, msg, compact):
    t = f.elem if f.is_array else f.type
    if t in PRIM:
        e(f"KP_TRY(kp_read_{PRIM[t][1]}(r, &{lhs}));")
    elif t == "uuid":
        e(f"KP_TRY(kp_read_uuid(r, &{lhs}));")
    elif t == "string":
        nul = "0" if f.is_array else null_expr(f, msg)
        e(f"KP_TRY(kp_read_str(r, &{lhs}, {compact}, {nul}));")
    elif t in ("bytes", "records"):
        e(f"KP_TRY(kp_read_bytes(r, &{lhs}, {compact}, {null_expr(f, msg)}));")
    else:
        raise SystemExit(f"{msg.path}: no decoder for {t}")


def dec_field(e, f, lhs, msg, in_tag=False):
    compact = compact_expr(f, msg)
    if f.is_array:
        e("{")
        e.ind += 1
        e("int32_t n;")
        e(f"KP_TRY(kp_read_arr_len(r, &n, {compact}, {null_expr(f, msg)}, {elem_min_size(f)}));")
        e(f"{lhs}.n = n;")
        e(f"{lhs}.v = NULL;")
        e.block("if (n > 0)")
        e(f"{lhs}.v = kp_arena_alloc(r->arena, (size_t)n * sizeof *{lhs}.v);")
        e(f"if (!{lhs}.v) return KP_E_NOMEM;")
        e.block("for (int32_t i = 0; i < n; i++)")
        if f.struct:
            e(f"KP_TRY({f.struct.cname}_dec(&{lhs}.v[i], r, v));")
        else:
            dec_scalar(e, f, f"{lhs}.v[i]", msg, compact)
        e.end()
        e.end()
        e.ind -= 1
        e("}")
    elif f.struct:
        if f.nullable and in_tag:
            # Kafka marks a nullable struct inside a tagged field with an
            # unsigned varint, 0 for null (NullableStructMessage.json in
            # Kafka's generator tests); the untagged form below is an int8.
            e("{")
            e.ind += 1
            e("uint32_t present;")
            e("KP_TRY(kp_read_uvarint(r, &present));")
            e(f"{lhs} = NULL;")
            e.block("if (present > 0)")
            e(f"{lhs} = kp_arena_alloc(r->arena, sizeof *{lhs});")
            e(f"if (!{lhs}) return KP_E_NOMEM;")
            e(f"KP_TRY({f.struct.cname}_dec({lhs}, r, v));")
            e.end()
            e.ind -= 1
            e("}")
        elif f.nullable:
            e("{")
            e.ind += 1
            e("int8_t present;")
            e("KP_TRY(kp_read_i8(r, &present));")
            e.block("if (present >= 0)")
            e(f"{lhs} = kp_arena_alloc(r->arena, sizeof *{lhs});")
            e(f"if (!{lhs}) return KP_E_NOMEM;")
            e(f"KP_TRY({f.struct.cname}_dec({lhs}, r, v));")
            e.end()
            e.ind -= 1
            e("}")
        else:
            e(f"KP_TRY({f.struct.cname}_dec(&{lhs}, r, v));")
    else:
        dec_scalar(e, f, lhs, msg, compact)


def gen_dec(e, s):
    msg = s.msg
    e(f"static int {s.cname}_dec({s.cname} *m, kp_reader *r, int16_t v)", "{")
    e.ind += 1
    flexc = vcond(msg.flexible, msg.valid)
    e(f"const bool flex = {flexc};")
    e("(void)flex;")
    e(f"{s.cname}_init(m);")
    for f in s.fields:
        cond = vcond(f.versions, msg.valid)
        if f.tagged:
            cond = f"({cond}) && !({vcond(f.tagged, msg.valid)})"
        if cond == "0":
            continue
        e.block(f"if ({cond})" if cond != "1" else "")
        dec_field(e, f, f"m->{f.cname}", msg)
        e.end()
    tagged = [f for f in s.fields if f.tagged]
    e.block("if (flex)")
    e("uint32_t ntags;")
    e("KP_TRY(kp_read_uvarint(r, &ntags));")
    e.block("for (uint32_t t = 0; t < ntags; t++)")
    e("uint32_t tag, size;")
    e("KP_TRY(kp_read_uvarint(r, &tag));")
    e("KP_TRY(kp_read_uvarint(r, &size));")
    e("KP_TRY(kp_need(r, size));")
    if tagged:
        e("kp_reader outer = *r;")
        e("r->end = r->p + size;")
        e("int known = 0;")
        e.block("switch (tag)")
        for f in tagged:
            e(f"case {f.tag}:")
            e.ind += 1
            e.block(f"if ({vcond(f.tagged, msg.valid)})")
            dec_field(e, f, f"m->{f.cname}", msg, in_tag=True)
            e("known = 1;")
            e.end()
            e("break;")
            e.ind -= 1
        e("default: break;")
        e.end()
        e("/* A known tag must be consumed exactly; an unknown one is skipped. */")
        e("if (known && r->p != r->end) return KP_E_INVALID;")
        e("r->p = outer.p + size;")
        e("r->end = outer.end;")
    else:
        e("r->p += size;")
    e.end()
    e.end()
    e("return 0;")
    e.ind -= 1
    e("}")
    e("")


# ---- encode -------------------------------------------------------------------


def enc_scalar(e, f, lhs, msg, compact, val_expr=None):
    t = f.elem if f.is_array else f.type
    if t in PRIM:
        e(f"KP_TRY(kp_write_{PRIM[t][2]}(w, {lhs}));")
    elif t == "uuid":
        e(f"KP_TRY(kp_write_uuid(w, &{lhs}));")
    elif t == "string":
        nul = "0" if f.is_array else null_expr(f, msg)
        e(f"KP_TRY(kp_write_str(w, {lhs}, {compact}, {nul}));")
    elif t in ("bytes", "records"):
        e(f"KP_TRY(kp_write_bytes(w, {lhs}, {compact}, {null_expr(f, msg)}));")


def enc_field(e, f, lhs, msg):
    compact = compact_expr(f, msg)
    if f.is_array:
        e(f"KP_TRY(kp_write_arr_len(w, {lhs}.n, {compact}, {null_expr(f, msg)}));")
        e.block(f"for (int32_t i = 0; i < {lhs}.n; i++)")
        if f.struct:
            e(f"KP_TRY({f.struct.cname}_enc(&{lhs}.v[i], w, v));")
        else:
            enc_scalar(e, f, f"{lhs}.v[i]", msg, compact)
        e.end()
    elif f.struct:
        if f.nullable:
            e.block(f"if ({lhs} == NULL)")
            e(f"if (!({null_expr(f, msg)})) return KP_E_NULL;")
            e("KP_TRY(kp_write_i8(w, -1));")
            e.end("} else {")
            e.ind += 1
            e("/* 1 reads as present both as an int8 and as a tagged field's uvarint. */")
            e("KP_TRY(kp_write_i8(w, 1));")
            e(f"KP_TRY({f.struct.cname}_enc({lhs}, w, v));")
            e.end()
        else:
            e(f"KP_TRY({f.struct.cname}_enc(&{lhs}, w, v));")
    else:
        enc_scalar(e, f, lhs, msg, compact)


def size_field(e, f, lhs, msg, acc="n"):
    compact = compact_expr(f, msg)
    if f.is_array:
        e(f"{acc} += kp_arr_len_size({lhs}.n, {compact});")
        t = f.elem
        if f.struct:
            e(f"for (int32_t i = 0; i < {lhs}.n; i++) {acc} += {f.struct.cname}_sz(&{lhs}.v[i], v);")
        elif t in PRIM:
            e(f"if ({lhs}.n > 0) {acc} += (size_t){lhs}.n * {PRIM[t][3]};")
        elif t == "uuid":
            e(f"if ({lhs}.n > 0) {acc} += (size_t){lhs}.n * 16;")
        else:
            e(f"for (int32_t i = 0; i < {lhs}.n; i++) {acc} += kp_str_size({lhs}.v[i], {compact});")
    elif f.struct:
        if f.nullable:
            e(f"{acc} += 1 + ({lhs} ? {f.struct.cname}_sz({lhs}, v) : 0);")
        else:
            e(f"{acc} += {f.struct.cname}_sz(&{lhs}, v);")
    elif f.type in PRIM:
        e(f"{acc} += {PRIM[f.type][3]};")
    elif f.type == "uuid":
        e(f"{acc} += 16;")
    elif f.type == "string":
        e(f"{acc} += kp_str_size({lhs}, {compact});")
    else:
        e(f"{acc} += kp_bytes_size({lhs}, {compact});")


def tagged_sorted(s):
    return sorted([f for f in s.fields if f.tagged], key=lambda f: f.tag)


def gen_tag_count(e, s):
    msg = s.msg
    e("uint32_t ntags = 0;")
    for f in tagged_sorted(s):
        e(f"if (({vcond(f.tagged, msg.valid)}) && {nondefault_expr(f, 'm->' + f.cname)}) ntags++;")


def gen_enc(e, s):
    msg = s.msg
    e(f"static int {s.cname}_enc(const {s.cname} *m, kp_writer *w, int16_t v)", "{")
    e.ind += 1
    e(f"const bool flex = {vcond(msg.flexible, msg.valid)};")
    e("(void)flex;")
    for f in s.fields:
        cond = vcond(f.versions, msg.valid)
        if f.tagged:
            cond = f"({cond}) && !({vcond(f.tagged, msg.valid)})"
        lhs = "m->" + f.cname
        if cond == "1":
            e.block("")
            enc_field(e, f, lhs, msg)
            e.end()
        elif cond != "0":
            e.block(f"if ({cond})")
            enc_field(e, f, lhs, msg)
            if not f.ignorable and not f.tagged and not f.struct:
                e.end(f"}} else if ({nondefault_expr(f, lhs)}) {{")
                e.ind += 1
                e("return KP_E_VERSION;")
            e.end()
        elif not f.ignorable and not f.struct:
            e(f"if ({nondefault_expr(f, lhs)}) return KP_E_VERSION;")
    e.block("if (flex)")
    gen_tag_count(e, s)
    e("KP_TRY(kp_write_uvarint(w, ntags));")
    for f in tagged_sorted(s):
        lhs = "m->" + f.cname
        e.block(f"if (({vcond(f.tagged, msg.valid)}) && {nondefault_expr(f, lhs)})")
        e("size_t fs = 0;")
        size_field(e, f, lhs, msg, "fs")
        e(f"KP_TRY(kp_write_uvarint(w, {f.tag}));")
        e("KP_TRY(kp_write_uvarint(w, (uint32_t)fs));")
        enc_field(e, f, lhs, msg)
        e.end()
    e.end()
    e("return 0;")
    e.ind -= 1
    e("}")
    e("")


def gen_size(e, s):
    msg = s.msg
    e(f"static size_t {s.cname}_sz(const {s.cname} *m, int16_t v)", "{")
    e.ind += 1
    e(f"const bool flex = {vcond(msg.flexible, msg.valid)};")
    e("(void)flex;")
    e("size_t n = 0;")
    for f in s.fields:
        cond = vcond(f.versions, msg.valid)
        if f.tagged:
            cond = f"({cond}) && !({vcond(f.tagged, msg.valid)})"
        if cond == "0":
            continue
        e.block(f"if ({cond})" if cond != "1" else "")
        size_field(e, f, "m->" + f.cname, msg)
        e.end()
    e.block("if (flex)")
    gen_tag_count(e, s)
    e("n += kp_uvarint_size(ntags);")
    for f in tagged_sorted(s):
        lhs = "m->" + f.cname
        e.block(f"if (({vcond(f.tagged, msg.valid)}) && {nondefault_expr(f, lhs)})")
        e("size_t fs = 0;")
        size_field(e, f, lhs, msg, "fs")
        e(f"n += kp_uvarint_size({f.tag}) + kp_uvarint_size((uint32_t)fs) + fs;")
        e.end()
    e.end()
    e("return n;")
    e.ind -= 1
    e("}")
    e("")


def gen_init(e, s):
    e(f"void {s.cname}_init({s.cname} *m)", "{")
    e.ind += 1
    e("memset(m, 0, sizeof *m);")
    for f in s.fields:
        for st in default_assign(f, "m->" + f.cname):
            if st.endswith("= 0;") or st.endswith("= false;") or "memset" in st or st.endswith(".n = 0;") or st.endswith("= NULL;"):
                continue
            e(st)
    e.ind -= 1
    e("}")
    e("")


def gen_is_default(e, s):
    e(f"static inline bool {s.cname}_is_default(const {s.cname} *m)", "{")
    e.ind += 1
    e("(void)m;")
    for f in s.fields:
        e(f"if ({nondefault_expr(f, 'm->' + f.cname)}) return false;")
    e("return true;")
    e.ind -= 1
    e("}")
    e("")


# ---- random fill (tests) ------------------------------------------------------


def rand_scalar(e, t, lhs, nul):
    if t in PRIM:
        e(f"{lhs} = {PRIM[t][4]};")
    elif t == "uuid":
        e(f"kp_rand_uuid(g, &{lhs});")
    elif t == "string":
        e(f"{lhs} = kp_rand_str(g, a, {nul});")
    else:
        e(f"{lhs} = kp_rand_bytes(g, a, {nul});")


def gen_rand(e, s):
    msg = s.msg
    e(f"void {s.cname}_rand({s.cname} *m, int16_t v, kp_rng *g, kp_arena *a, int depth)", "{")
    e.ind += 1
    e(f"{s.cname}_init(m);")
    e("(void)v; (void)g; (void)a; (void)depth;")
    for f in s.fields:
        cond = vcond(f.versions, msg.valid)
        if cond == "0":
            continue
        lhs = "m->" + f.cname
        nul = null_expr(f, msg)
        e.block(f"if ({cond})")
        if f.is_array:
            e(f"{lhs}.n = depth > 3 ? 0 : kp_rand_count(g, {nul});")
            e.block(f"if ({lhs}.n > 0)")
            e(f"{lhs}.v = kp_arena_alloc(a, (size_t){lhs}.n * sizeof *{lhs}.v);")
            e(f"for (int32_t i = 0; i < {lhs}.n; i++)")
            e.ind += 1
            if f.struct:
                e(f"{f.struct.cname}_rand(&{lhs}.v[i], v, g, a, depth + 1);")
            else:
                rand_scalar(e, f.elem, f"{lhs}.v[i]", "0")
            e.ind -= 1
            e.end()
        elif f.struct:
            if f.nullable:
                e.block(f"if (!({nul}) || (kp_rng_next(g) & 1))")
                e(f"{lhs} = kp_arena_alloc(a, sizeof *{lhs});")
                e(f"{f.struct.cname}_rand({lhs}, v, g, a, depth + 1);")
                e.end()
            else:
                e(f"{f.struct.cname}_rand(&{lhs}, v, g, a, depth + 1);")
        else:
            rand_scalar(e, f.type, lhs, nul)
        e.end()
    e.ind -= 1
    e("}")
    e("")


# ---- files --------------------------------------------------------------------

BANNER = "/* Generated by protocol/kpgen.py from {src}. Do not edit. */\n"


def gen_header(msg):
    e = Emitter()
    guard = msg.prefix.upper() + "_H"
    e(BANNER.format(src=msg.path).rstrip(), f"#ifndef {guard}", f"#define {guard}", "",
      '#include "kp_rt.h"', "")
    for s in reversed(msg.structs):
        e(f"typedef struct {s.cname} {s.cname};")
    e("")
    # children were appended after their parents: emit in reverse so each type
    # is complete before a struct embeds it.
    for s in reversed(msg.structs):
        e(f"/* {s.name} */")
        e(f"struct {s.cname} {{")
        for f in s.fields:
            doc = (f.js.get("about") or "").replace("*/", "* /")
            e(f"    {ctype(f)} {f.cname}; /* {doc} */")
        if not s.fields:
            e("    char unused_;")
        e("};")
        e(f"typedef struct {{ int32_t n; {s.cname} *v; }} {s.cname}_arr;")
        e(f"void {s.cname}_init({s.cname} *m);")
        e(f"void {s.cname}_rand({s.cname} *m, int16_t v, kp_rng *g, kp_arena *a, int depth);")
        e("")
    p = msg.prefix
    e(f"#define {p.upper()}_MIN_VERSION {msg.valid[0]}",
      f"#define {p.upper()}_MAX_VERSION {msg.valid[1]}")
    e(f"int {p}_decode({p} *m, kp_reader *r, int16_t version);",
      f"int {p}_encode(const {p} *m, kp_writer *w, int16_t version);",
      f"size_t {p}_size(const {p} *m, int16_t version);",
      "", "#endif", "")
    return "\n".join(e.lines)


def reorder_structs(msg):
    """Orders structs so that a struct embedding another by value follows it."""
    order, seen = [], set()

    def visit(s):
        if s.cname in seen:
            return
        seen.add(s.cname)
        for f in s.fields:
            if f.struct and not f.is_array and not f.nullable:
                visit(f.struct)
        order.append(s)

    for s in msg.structs:
        visit(s)
    # gen_header emits reversed(msg.structs): store in reverse dependency order.
    msg.structs = list(reversed(order))


def default_checked(msg):
    """Structs whose _is_default is called: those of tagged struct fields (an
    equal-to-default value is not sent) and, transitively, the structs they
    embed. Emitting it for the others would leave unused static functions,
    an error under clang's -Wunused-function -Werror."""
    need = set()

    def add(s):
        if s.cname in need:
            return
        need.add(s.cname)
        for f in s.fields:
            if f.struct and not f.is_array and not f.nullable:
                add(f.struct)

    for s in msg.structs:
        for f in s.fields:
            if f.tagged and f.struct and not f.is_array and not f.nullable:
                add(f.struct)
    return need


def gen_source(msg):
    e = Emitter()
    e(BANNER.format(src=msg.path).rstrip(), f'#include "gen/{msg.prefix}.h"', "")
    structs = list(reversed(msg.structs))
    checked = default_checked(msg)
    for s in structs:
        e(f"static int {s.cname}_dec({s.cname} *m, kp_reader *r, int16_t v);",
          f"static int {s.cname}_enc(const {s.cname} *m, kp_writer *w, int16_t v);",
          f"static size_t {s.cname}_sz(const {s.cname} *m, int16_t v);")
        if s.cname in checked:
            e(f"static inline bool {s.cname}_is_default(const {s.cname} *m);")
    e("")
    for s in structs:
        gen_init(e, s)
        if s.cname in checked:
            gen_is_default(e, s)
        gen_dec(e, s)
        gen_enc(e, s)
        gen_size(e, s)
    p = msg.prefix
    lo, hi = msg.valid
    e(f"int {p}_decode({p} *m, kp_reader *r, int16_t version)", "{",
      f"    if (version < {lo} || version > {hi}) return KP_E_UNKNOWN;",
      f"    return {p}_dec(m, r, version);", "}", "",
      f"int {p}_encode(const {p} *m, kp_writer *w, int16_t version)", "{",
      f"    if (version < {lo} || version > {hi}) return KP_E_UNKNOWN;",
      f"    return {p}_enc(m, w, version);", "}", "",
      f"size_t {p}_size(const {p} *m, int16_t version)", "{",
      f"    return {p}_sz(m, version);", "}", "")
    return "\n".join(e.lines)


def gen_rand_source(msgs):
    e = Emitter()
    e(BANNER.format(src="every spec").rstrip(),
      "/* Random values legal at a version, for the round-trip tests. */",
      '#include "gen/kp_all.h"', "")
    for msg in msgs:
        for s in reversed(msg.structs):
            gen_rand(e, s)
    e("/* Every generated message, in spec order, with its random filler. */")
    e("const kp_msg_info kp_messages[] = {")
    for m in msgs:
        e(f"    {msg_entry(m, True)},")
    e("};")
    e(f"const int kp_message_count = {len(msgs)};", "")
    return "\n".join(e.lines)


def main():
    spec_dir, out_dir = sys.argv[1], sys.argv[2]
    msgs = []
    for sub in ("message", "metadata", "raft", "group-coordinator", "transaction-coordinator"):
        d = os.path.join(spec_dir, sub)
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".json"):
                continue
            with open(os.path.join(d, fn)) as fh:
                js = json.loads(strip_comments(fh.read()))
            msgs.append(Message(js, f"{sub}/{fn}"))
    names = [m.prefix for m in msgs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SystemExit(f"duplicate message names: {dup}")
    gen = os.path.join(out_dir, "gen")
    os.makedirs(gen, exist_ok=True)
    for old in os.listdir(gen):
        os.remove(os.path.join(gen, old))
    files = []
    for msg in msgs:
        reorder_structs(msg)
        write(os.path.join(gen, msg.prefix + ".h"), gen_header(msg))
        src = gen_source(msg)
        write(os.path.join(gen, msg.prefix + ".c"), src)
        files.append(msg.prefix + ".c")
    write(os.path.join(gen, "kp_all.h"), gen_all_header(msgs))
    write(os.path.join(gen, "kp_tables.c"), gen_tables(msgs))
    write(os.path.join(gen, "kp_rand.c"), gen_rand_source(msgs))
    files.append("kp_tables.c")
    write(os.path.join(gen, "meson.build"),
          "# Generated by protocol/kpgen.py. Do not edit.\nkp_gen_src = files(\n" +
          "".join(f"  '{f}',\n" for f in files) + ")\nkp_rand_src = files('kp_rand.c')\n")


def write(path, text):
    with open(path, "w") as fh:
        fh.write(text)


def gen_all_header(msgs):
    lines = [BANNER.format(src="every spec").rstrip(), "#ifndef KP_ALL_H", "#define KP_ALL_H", ""]
    lines += [f'#include "gen/{m.prefix}.h"' for m in msgs]
    lines += ["", '#include "kp_tables.h"', "", "#endif", ""]
    return "\n".join(lines)


def listener_mask(msg):
    bits = {"zkBroker": "KP_LISTENER_ZK_BROKER", "broker": "KP_LISTENER_BROKER",
            "controller": "KP_LISTENER_CONTROLLER"}
    return " | ".join(bits[x] for x in msg.listeners) or "0"


def msg_entry(m, with_rand=False):
    p = m.prefix
    rand = f"(kp_rand_fn){p}_rand" if with_rand else "NULL"
    return (f'{{"{m.name}", "{m.path}", {m.valid[0]}, {m.valid[1]}, sizeof({p}), '
            f"(kp_init_fn){p}_init, (kp_decode_fn){p}_decode, (kp_encode_fn){p}_encode, "
            f"(kp_size_fn){p}_size, {rand}}}")


def gen_tables(msgs):
    e = Emitter()
    e(BANNER.format(src="every spec").rstrip(), '#include "gen/kp_all.h"', "")
    reqs = {m.api_key: m for m in msgs if m.kind == "request"}
    resps = {m.api_key: m for m in msgs if m.kind == "response"}
    e("/* Requests and responses by api key. */")
    e("static const kp_api_info kp_apis[] = {")
    for key in sorted(reqs):
        rq, rs = reqs[key], resps[key]
        flex_min = rq.flexible[0] if rq.flexible else -1
        stable = rq.valid[1] - (1 if rq.unstable_latest else 0)
        e(f"    {{{key}, \"{rq.name[:-len('Request')]}\", {rq.valid[0]}, {rq.valid[1]}, {stable}, "
          f"{flex_min}, {listener_mask(rq)},")
        e(f"     {msg_entry(rq)},")
        e(f"     {msg_entry(rs)}}},")
    e("};", "")
    e("const kp_api_info *kp_api_get(int16_t key)", "{")
    e("    static const kp_api_info *by_key[KP_API_KEY_MAX + 1];")
    e("    static bool ready;")
    e("    /* Filled on first use; the first call comes from start-up, before shards run. */")
    e("    if (!ready) {")
    e("        for (size_t i = 0; i < sizeof kp_apis / sizeof kp_apis[0]; i++)")
    e("            by_key[kp_apis[i].key] = &kp_apis[i];")
    e("        ready = true;")
    e("    }")
    e("    return key >= 0 && key <= KP_API_KEY_MAX ? by_key[key] : NULL;")
    e("}", "")
    e("const kp_api_info *kp_api_at(size_t i)", "{")
    e("    return i < sizeof kp_apis / sizeof kp_apis[0] ? &kp_apis[i] : NULL;")
    e("}", "")
    recs = [m for m in msgs if m.kind == "metadata"]
    e("/* __cluster_metadata record types by their apiKey. */")
    e("const kp_msg_info *kp_metadata_record_get(int16_t type)", "{")
    e("    static const kp_msg_info recs[] = {")
    for m in sorted(recs, key=lambda m: m.api_key):
        e(f"        [{m.api_key}] = {msg_entry(m)},")
    e("    };")
    e("    if (type < 0 || (size_t)type >= sizeof recs / sizeof recs[0] || !recs[type].name) return NULL;")
    e("    return &recs[type];")
    e("}", "")
    e.lines.insert(2, f"_Static_assert({max(reqs)} <= KP_API_KEY_MAX, \"KP_API_KEY_MAX too small\");")
    return "\n".join(e.lines)


if __name__ == "__main__":
    main()
