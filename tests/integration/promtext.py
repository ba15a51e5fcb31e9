"""A strict-enough checker of the Prometheus text exposition format 0.0.4.

parse(text) returns {family: {"type": t, "help": h, "samples": [(name, labels, value)]}}
and raises PromTextError on anything a scraper could misread:

- every line ends with "\\n"; blank lines are ignored;
- "# HELP name doc" (doc escapes: \\\\ and \\n) and "# TYPE name type" (counter, gauge,
  histogram, summary, untyped), each at most once per family and before its samples; other
  "#" lines are comments;
- metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not "__..."),
  label values in double quotes with escapes \\\\, \\" and \\n only, no label twice;
- values: decimal floats, NaN, +Inf, -Inf; an optional integer timestamp; nothing else;
- every sample belongs to a family declared by TYPE: a counter/gauge/untyped family's
  samples carry its name; a histogram's are name_bucket (with le), name_sum, name_count; a
  summary's are name (with quantile), name_sum, name_count;
- a family's lines are contiguous (no interleaving with another family);
- no series (name + label set) twice;
- counters, histogram buckets and counts are not negative; histogram buckets are
  cumulative (non-decreasing by le), le="+Inf" is present and equals name_count, and
  name_sum and name_count are present for every label set with buckets.

Python 3 standard library only.
"""

import math
import re

METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
TIMESTAMP_RE = re.compile(r"-?[0-9]+")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
BLANKS = " \t"


class PromTextError(ValueError):
    pass


def parse_float(text):
    """A sample value or an le/quantile label value, as Prometheus writes them."""
    if text == "NaN":
        return math.nan
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if not FLOAT_RE.fullmatch(text):
        raise PromTextError("not a float: %r" % text)
    return float(text)


def _unescape(text, allowed, what):
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in allowed:
                raise PromTextError("invalid escape in %s: %r" % (what, text))
            out.append(allowed[text[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _skip_blanks(line, i):
    while i < len(line) and line[i] in BLANKS:
        i += 1
    return i


def _parse_labels(line, i):
    """line[i] is '{'. Returns (labels dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        i = _skip_blanks(line, i)
        if i >= len(line):
            raise PromTextError("unterminated label set")
        if line[i] == "}":
            return labels, i + 1
        m = LABEL_NAME_RE.match(line, i)
        if not m:
            raise PromTextError("bad label name at %r" % line[i:])
        name = m.group(0)
        if name.startswith("__"):
            raise PromTextError("reserved label name %r" % name)
        if name in labels:
            raise PromTextError("label %r twice" % name)
        i = _skip_blanks(line, m.end())
        if i >= len(line) or line[i] != "=":
            raise PromTextError("expected '=' after label %r" % name)
        i = _skip_blanks(line, i + 1)
        if i >= len(line) or line[i] != '"':
            raise PromTextError("label %r: value not quoted" % name)
        j = i + 1
        raw = []
        while True:
            if j >= len(line):
                raise PromTextError("label %r: unterminated value" % name)
            c = line[j]
            if c == "\\":
                if j + 1 >= len(line):
                    raise PromTextError("label %r: unterminated value" % name)
                raw.append(line[j:j + 2])
                j += 2
                continue
            if c == '"':
                break
            raw.append(c)
            j += 1
        labels[name] = _unescape("".join(raw), {"\\": "\\", '"': '"', "n": "\n"},
                                 "label value")
        i = _skip_blanks(line, j + 1)
        if i < len(line) and line[i] == ",":
            i += 1
        elif i < len(line) and line[i] == "}":
            continue
        else:
            raise PromTextError("expected ',' or '}' after label %r" % name)


def _parse_sample(line):
    m = METRIC_NAME_RE.match(line)
    if not m:
        raise PromTextError("bad metric name at %r" % line)
    name = m.group(0)
    i = m.end()
    labels = {}
    if i < len(line) and line[i] == "{":
        labels, i = _parse_labels(line, i)
    if i >= len(line) or line[i] not in BLANKS:
        raise PromTextError("expected a blank before the value in %r" % line)
    fields = line[i:].split()
    if len(fields) not in (1, 2):
        raise PromTextError("expected a value and an optional timestamp in %r" % line)
    value = parse_float(fields[0])
    if len(fields) == 2 and not TIMESTAMP_RE.fullmatch(fields[1]):
        raise PromTextError("bad timestamp %r" % fields[1])
    return name, labels, value


def _family_of(name, labels, families):
    """The declared family a sample belongs to, or raises."""
    fam = families.get(name)
    if fam is not None and fam["type"] is not None:
        if fam["type"] == "histogram":
            raise PromTextError("histogram %s: sample without _bucket/_sum/_count suffix" % name)
        if fam["type"] == "summary" and "quantile" not in labels:
            raise PromTextError("summary %s: sample without quantile" % name)
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            fam = families.get(base)
            if fam is None or fam["type"] not in ("histogram", "summary"):
                continue
            if suffix == "_bucket" and fam["type"] != "histogram":
                continue
            if suffix == "_bucket" and "le" not in labels:
                raise PromTextError("%s without le" % name)
            if suffix != "_bucket" and ("le" in labels or "quantile" in labels):
                raise PromTextError("%s with le/quantile" % name)
            return base
    raise PromTextError("sample %s belongs to no family declared by TYPE" % name)


def _check_histogram(family, fam):
    groups = {}
    for name, labels, value in fam["samples"]:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name == family + "_bucket":
            g["buckets"].append((parse_float(labels["le"]), value))
        elif name == family + "_sum":
            g["sum"] = value
        elif name == family + "_count":
            g["count"] = value
    for rest, g in groups.items():
        where = "%s%s" % (family, dict(rest) or "")
        if not g["buckets"]:
            raise PromTextError("%s: no buckets" % where)
        if g["sum"] is None or g["count"] is None:
            raise PromTextError("%s: _sum or _count missing" % where)
        bounds = [b for b, _ in g["buckets"]]
        if len(set(bounds)) != len(bounds):
            raise PromTextError("%s: le twice" % where)
        if any(math.isnan(b) for b in bounds):
            raise PromTextError("%s: le NaN" % where)
        if math.inf not in bounds:
            raise PromTextError("%s: no le=\"+Inf\" bucket" % where)
        last = -math.inf
        for bound, value in sorted(g["buckets"]):
            if math.isnan(value) or value < 0:
                raise PromTextError("%s: bucket le=%g is %r" % (where, bound, value))
            if value < last:
                raise PromTextError("%s: buckets not cumulative at le=%g (%r < %r)"
                                    % (where, bound, value, last))
            last = value
        inf = dict(g["buckets"])[math.inf]
        if inf != g["count"]:
            raise PromTextError("%s: +Inf bucket %r != _count %r" % (where, inf, g["count"]))
        if g["count"] < 0:
            raise PromTextError("%s: negative _count" % where)


def parse(text):
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise PromTextError("not UTF-8: %s" % e)
    if text and not text.endswith("\n"):
        raise PromTextError("last line does not end with a newline")
    families = {}
    closed = set()  # families whose group of lines has ended
    current = None
    series = set()

    def enter(family):
        nonlocal current
        if family == current:
            return
        if family in closed:
            raise PromTextError("lines of %s are not contiguous" % family)
        if current is not None:
            closed.add(current)
        current = family

    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        try:
            if line.strip(BLANKS) == "":
                continue
            if line.startswith("#"):
                parts = line[1:].lstrip(BLANKS)
                keyword = parts.split(None, 1)[0] if parts.split() else ""
                if keyword not in ("HELP", "TYPE"):
                    continue  # a plain comment
                rest = parts[len(keyword):]
                if rest and rest[0] not in BLANKS:
                    continue  # e.g. "# HELPER": a comment
                rest = rest.lstrip(BLANKS)
                m = METRIC_NAME_RE.match(rest)
                if not m or (m.end() < len(rest) and rest[m.end()] not in BLANKS):
                    raise PromTextError("bad metric name in %s line" % keyword)
                name = m.group(0)
                arg = rest[m.end():]
                fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
                enter(name)
                if keyword == "HELP":
                    if fam["help"] is not None:
                        raise PromTextError("second HELP for %s" % name)
                    doc = arg[1:] if arg[:1] in (" ", "\t") else arg
                    fam["help"] = _unescape(doc, {"\\": "\\", "n": "\n"}, "HELP")
                else:
                    if fam["type"] is not None:
                        raise PromTextError("second TYPE for %s" % name)
                    if fam["samples"]:
                        raise PromTextError("TYPE for %s after its samples" % name)
                    kind = arg.strip(BLANKS)
                    if kind not in TYPES:
                        raise PromTextError("unknown type %r for %s" % (kind, name))
                    # A histogram/summary owns name_bucket, name_sum, name_count.
                    if kind in ("histogram", "summary"):
                        for sfx in ("_bucket", "_sum", "_count"):
                            if name + sfx in families:
                                raise PromTextError("%s %s clashes with family %s"
                                                    % (kind, name, name + sfx))
                    for sfx in ("_bucket", "_sum", "_count"):
                        base = families.get(name[:-len(sfx)]) if name.endswith(sfx) else None
                        if base is not None and base["type"] in ("histogram", "summary"):
                            raise PromTextError("%s clashes with %s %s"
                                                % (name, base["type"], name[:-len(sfx)]))
                    fam["type"] = kind
                continue
            name, labels, value = _parse_sample(line)
            family = _family_of(name, labels, families)
            enter(family)
            key = (name, tuple(sorted(labels.items())))
            if key in series:
                raise PromTextError("series %s%s twice" % (name, labels))
            series.add(key)
            kind = families[family]["type"]
            if kind == "counter" and (math.isnan(value) or value < 0):
                raise PromTextError("counter %s is %r" % (name, value))
            if name.endswith("_count") and kind in ("histogram", "summary") and value < 0:
                raise PromTextError("%s is negative" % name)
            families[family]["samples"].append((name, labels, value))
        except PromTextError as e:
            raise PromTextError("line %d: %s: %r" % (lineno, e, line)) from None

    for family, fam in families.items():
        if fam["type"] is None:
            raise PromTextError("%s has HELP but no TYPE" % family)
        if fam["type"] == "histogram":
            _check_histogram(family, fam)
        if fam["type"] == "summary":
            names = {n for n, _, _ in fam["samples"]}
            if fam["samples"] and not {family + "_sum", family + "_count"} <= names:
                raise PromTextError("summary %s: _sum or _count missing" % family)
    return families


def value(families, name, **labels):
    """The value of the one series `name` with exactly `labels` (a histogram's _bucket,
    _sum and _count are found under their family); KeyError if absent."""
    candidates = [name] + [name[:-len(sfx)] for sfx in ("_bucket", "_sum", "_count")
                           if name.endswith(sfx)]
    for family in candidates:
        for n, l, v in families.get(family, {"samples": []})["samples"]:
            if n == name and l == labels:
                return v
    raise KeyError("%s%s not in the metrics" % (name, labels))
