"""A strict parser of the Prometheus text exposition format (0.0.4), standard
library only: what a /metrics test reads the server's answer with. Strict
where Prometheus is: a malformed line, a bad escape, a TYPE after the
family's samples, a family split in two, a series given twice, a negative
counter are errors (ValueError naming the line), never skipped.

    families = prom.parse(text)
    families["splicehttpd_requests_total"].type            # "counter"
    prom.value(families, "splicehttpd_requests_total", worker="0", **{"class": "2xx"})
    prom.total(families, "splicehttpd_requests_total", **{"class": "2xx"})  # over the other labels
"""

import math
import re

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
# Sample names a family of each type may have, as suffixes of its name.
SUFFIXES = {
    "counter": ("",),
    "gauge": ("",),
    "untyped": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}


class Family:
    def __init__(self, name):
        self.name = name
        self.type = "untyped"
        self.help = None
        self.samples = []  # (sample name, {label: value}, float value)
        self.typed = False

    def __repr__(self):
        return f"<Family {self.name} {self.type} {len(self.samples)} samples>"


def _unescape(text, lineno, allow_quote):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(text):
            raise ValueError(f"line {lineno}: a lone backslash at the end")
        nxt = text[i + 1]
        if nxt == "\\":
            out.append("\\")
        elif nxt == "n":
            out.append("\n")
        elif nxt == '"' and allow_quote:
            out.append('"')
        else:
            raise ValueError(f"line {lineno}: bad escape \\{nxt}")
        i += 2
    return "".join(out)


def _float(text, lineno):
    special = {"+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    if text in special:
        return special[text]
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        raise ValueError(f"line {lineno}: {text!r} is not a number")
    return float(text)


def _labels(text, pos, lineno):
    """Reads {a="x",b="y"} from text[pos] ('{'); returns (dict, end)."""
    labels = {}
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        m = LABEL_NAME.match(text, pos)
        if not m:
            raise ValueError(f"line {lineno}: a label name expected at column {pos + 1}")
        name = m.group(0)
        if name.startswith("__"):
            raise ValueError(f"line {lineno}: label {name} is reserved")
        if name in labels:
            raise ValueError(f"line {lineno}: label {name} twice")
        pos = m.end()
        if text[pos:pos + 2] != '="':
            raise ValueError(f'line {lineno}: =" expected after label {name}')
        pos += 2
        start = pos
        while pos < len(text) and text[pos] != '"':
            pos += 2 if text[pos] == "\\" else 1
        if pos >= len(text):
            raise ValueError(f"line {lineno}: label {name}'s value is not closed")
        labels[name] = _unescape(text[start:pos], lineno, allow_quote=True)
        pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        else:
            raise ValueError(f"line {lineno}: ',' or '}}' expected after label {name}")


def _family_of(name, families):
    """The family a sample name belongs to: itself, or a histogram's or
    summary's with the suffix taken off."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in families:
            base = families[name[: -len(suffix)]]
            if suffix in SUFFIXES[base.type]:
                return base.name
    return name


def parse(text):
    """{family name: Family}, in the order the text gives them."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # UnicodeDecodeError: not UTF-8
    if text and not text.endswith("\n"):
        raise ValueError("the last line has no newline")
    families = {}
    current = None  # the family whose samples come now
    finished = set()
    series = set()

    def enter(name, lineno):
        nonlocal current
        if current is not None and current.name == name:
            return current
        if name in finished or (name in families and families[name].samples):
            raise ValueError(f"line {lineno}: family {name} continues after another one")
        if current is not None:
            finished.add(current.name)
        current = families.setdefault(name, Family(name))
        return current

    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not METRIC_NAME.fullmatch(name):
                    raise ValueError(f"line {lineno}: {name!r} is not a metric name")
                family = enter(name, lineno)
                rest = parts[3] if len(parts) > 3 else ""
                if parts[1] == "HELP":
                    if family.help is not None:
                        raise ValueError(f"line {lineno}: a second HELP for {name}")
                    family.help = _unescape(rest, lineno, allow_quote=False)
                else:
                    if family.typed:
                        raise ValueError(f"line {lineno}: a second TYPE for {name}")
                    if family.samples:
                        raise ValueError(f"line {lineno}: TYPE of {name} after its samples")
                    if rest not in TYPES:
                        raise ValueError(f"line {lineno}: unknown type {rest!r}")
                    family.type, family.typed = rest, True
            continue  # any other comment
        m = METRIC_NAME.match(line)
        if not m:
            raise ValueError(f"line {lineno}: a metric name expected")
        name, pos = m.group(0), m.end()
        labels = {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = _labels(line, pos, lineno)
        fields = line[pos:].split()
        if not line[pos:pos + 1].isspace() or len(fields) not in (1, 2):
            raise ValueError(f"line {lineno}: a value (and maybe a timestamp) expected after the name")
        value = _float(fields[0], lineno)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise ValueError(f"line {lineno}: timestamp {fields[1]!r} is not an integer")
        family = enter(_family_of(name, families), lineno)
        suffix = name[len(family.name):]
        if suffix not in SUFFIXES[family.type]:
            raise ValueError(f"line {lineno}: {name} in a {family.type} family {family.name}")
        if family.type == "counter" and not value >= 0:
            raise ValueError(f"line {lineno}: counter {name} is {fields[0]}")
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise ValueError(f"line {lineno}: {name}{labels} twice")
        series.add(key)
        family.samples.append((name, labels, value))
    return families


def value(families, name, **labels):
    """The value of the one sample `name` (of its family, or a histogram's
    _count and the like) with exactly these labels."""
    family = families.get(_family_of(name, families))
    if family is None:
        raise KeyError(f"no family {name}")
    found = [v for n, l, v in family.samples if n == name and l == labels]
    if len(found) != 1:
        raise KeyError(f"{name}{labels}: {len(found)} samples; the family has {family.samples}")
    return found[0]


def total(families, name, **labels):
    """The sum of the samples `name` that have these labels (and any others)."""
    family = families.get(_family_of(name, families))
    if family is None:
        raise KeyError(f"no family {name}")
    return sum(v for n, l, v in family.samples if n == name and all(l.get(k) == x for k, x in labels.items()))
