#!/usr/bin/env python3
"""Checks of a rendered report for scripts/check-report.sh (standard library only).

  png_check.py content-height PNG   print the height to render the page at: the last
                                    row that is not background, plus a margin
  png_check.py colours PNG          fail if the screenshot is nearly one colour
  png_check.py dom DOM_HTML [MIN]   fail unless every chart <svg> holds data (a line of
                                    at least 3 distinct points, or at least 2 data bars)
                                    and there are at least MIN charts (default 1)
  png_check.py selftest             show that the dom check fails blank charts and
                                    passes charts with data (synthetic pages)

Exit codes: 0 pass, 1 check failed, 2 unreadable input.
"""

import re
import struct
import sys
import zlib
from collections import Counter
from html.parser import HTMLParser

# A page that is nothing but the report's text has a few dozen colours (anti-aliased
# glyphs); charts add coloured lines and shaded bands. A blank page has one or two.
MIN_COLOURS = 16
# Share of pixels that are not the background colour.
MIN_INK = 0.02
MARGIN = 40


def die(message):
    print(f"png_check.py: {message}", file=sys.stderr)
    sys.exit(2)


def read_png(path):
    """Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes) into
    (width, height, channels, rows of bytes)."""
    try:
        data = open(path, "rb").read()
    except OSError as error:
        die(f"{path}: {error}")
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        die(f"{path}: not a PNG file")
    pos, header, idat = 8, None, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        die(f"{path}: no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace != 0:
        die(f"{path}: unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + previous[i]) & 0xFF
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = previous[i]
                c = previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif kind != 0:
            die(f"{path}: bad filter type {kind} in row {y}")
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def pixels(row, channels):
    return [row[i : i + 3] for i in range(0, len(row), channels)]


def content_height(path):
    width, height, channels, rows = read_png(path)
    background = rows[0][:3]
    last = 0
    for y, row in enumerate(rows):
        if any(p != background for p in pixels(row, channels)):
            last = y
    print(min(height, last + 1 + MARGIN) if last else height)


def colours(path):
    width, height, channels, rows = read_png(path)
    counts = Counter()
    for row in rows:
        counts.update(pixels(row, channels))
    total = width * height
    background, most = counts.most_common(1)[0]
    ink = 1 - most / total
    print(
        f"  {width}x{height}, {len(counts)} distinct colours, "
        f"{ink:.1%} of pixels not background #{background.hex()}"
    )
    if len(counts) < MIN_COLOURS or ink < MIN_INK:
        print(f"FAIL: the page is nearly blank (need >= {MIN_COLOURS} colours and >= {MIN_INK:.0%} ink)")
        sys.exit(1)


# A line is data when it has this many distinct points: axes, ticks and legend samples
# have two.
MIN_LINE_POINTS = 3
# A bar chart is data when it has this many data bars (see data_bar).
MIN_BARS = 2


class Charts(HTMLParser):
    """Collects, per <svg>, the point lists of its <polyline> and <path> elements and
    the number of its data bars."""

    def __init__(self):
        super().__init__()
        self.svgs = []  # per chart: {"lines": [set of points], "bars": int}
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg":
            if self.depth == 0:
                self.svgs.append({"lines": [], "bars": 0})
            self.depth += 1
        elif self.depth and tag == "polyline":
            self.svgs[-1]["lines"].append(points(attrs.get("points", "")))
        elif self.depth and tag == "path":
            self.svgs[-1]["lines"].append(points(attrs.get("d", "")))
        elif self.depth and tag == "rect" and data_bar(attrs):
            self.svgs[-1]["bars"] += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "svg":
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag == "svg" and self.depth:
            self.depth -= 1


def number(text, default):
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def data_bar(attrs):
    """A <rect> that is a bar of data: opaque, coloured and at least 1x1 px. The report's
    other rects are not: the background is white, shaded spans and legend samples are
    translucent (and the legend of a bar chart draws lines, not rects)."""
    fill = (attrs.get("fill") or "").strip().lower()
    opaque = min(number(attrs.get("opacity"), 1.0), number(attrs.get("fill-opacity"), 1.0)) >= 0.99
    return (
        opaque
        and fill not in ("", "none", "transparent", "#fff", "#ffffff", "white")
        and number(attrs.get("width"), 0.0) >= 1
        and number(attrs.get("height"), 0.0) >= 1
    )


def has_data(chart):
    """A chart holds data: a line of MIN_LINE_POINTS distinct points, or MIN_BARS bars."""
    longest = max((len(p) for p in chart["lines"]), default=0)
    return longest >= MIN_LINE_POINTS or chart["bars"] >= MIN_BARS


def points(text):
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)]
    return set(zip(numbers[0::2], numbers[1::2]))


def dom(path, min_charts="1"):
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as error:
        die(f"{path}: {error}")
    try:
        min_charts = int(min_charts)
    except ValueError:
        die(f"MIN must be a number, not {min_charts!r}")
    parser = Charts()
    parser.feed(text)
    if not parser.svgs:
        print("FAIL: no <svg> chart in the rendered page")
        sys.exit(1)
    failed = False
    for n, chart in enumerate(parser.svgs, 1):
        lines, bars = chart["lines"], chart["bars"]
        longest = max((len(p) for p in lines), default=0)
        data = has_data(chart)
        verdict = (
            "ok"
            if data
            else f"FAIL (blank: no line of {MIN_LINE_POINTS} or more points, "
            f"fewer than {MIN_BARS} data bars)"
        )
        failed |= not data
        print(
            f"  chart {n}: {len(lines)} lines, longest {longest} distinct points, "
            f"{bars} data bars: {verdict}"
        )
    if len(parser.svgs) < min_charts:
        print(f"FAIL: {len(parser.svgs)} charts, expected at least {min_charts}")
        failed = True
    if failed:
        sys.exit(1)


def verdicts(page):
    """(charts, charts with data) of an HTML page, by the dom check's rules."""
    parser = Charts()
    parser.feed(page)
    return len(parser.svgs), sum(1 for chart in parser.svgs if has_data(chart))


def selftest(_=None):
    """The dom check must fail what a broken report would draw, and pass real data."""
    background = '<rect x="0" y="0" width="960" height="480" opacity="1" fill="#FFFFFF" stroke="none"/>'
    axes = '<polyline fill="none" points="79,42 79,415 "/><line x1="80" y1="1" x2="90" y2="1"/>'
    shade = '<rect x="80" y="42" width="136" height="373" opacity="0.35" fill="#FFC878"/>'
    legend_line = '<polyline fill="none" stroke="#1F77B4" points="8,40 32,40 "/>'
    bar = '<rect x="{x}" y="60" width="{w}" height="{h}" opacity="1" fill="#1F77B4" stroke="none"/>'
    svg = lambda *parts: "<svg>" + "".join(parts) + "</svg>"
    cases = [
        ("blank: background, axes, shaded spans, legend", svg(background, axes, shade, shade, legend_line), 0),
        ("blank: a line of two points", svg(background, '<polyline points="1,1 5,5 1,1"/>'), 0),
        ("blank: one bar", svg(background, bar.format(x=80, w=100, h=30)), 0),
        ("blank: bars of zero height", svg(background, bar.format(x=80, w=100, h=0) * 3), 0),
        ("blank: translucent bars", svg(background, bar.format(x=80, w=100, h=30).replace('opacity="1"', 'opacity="0.6"') * 3), 0),
        ("data: a line of three points", svg(background, axes, '<polyline points="1,1 2,5 3,2"/>'), 1),
        ("data: a path of three points", svg(background, '<path d="M1,1 L2,5 L3,2"/>'), 1),
        ("data: two bars", svg(background, bar.format(x=80, w=100, h=30), bar.format(x=180, w=40, h=30)), 1),
    ]
    failed = False
    for name, page, expected in cases:
        charts, with_data = verdicts(page)
        ok = charts == 1 and with_data == expected
        failed |= not ok
        print(f"  {name}: {'ok' if ok else 'WRONG VERDICT'}")
    if failed:
        print("FAIL: the dom check does not tell blank charts from charts with data")
        sys.exit(1)


def main():
    commands = {
        "content-height": (content_height, 1),
        "colours": (colours, 1),
        "dom": (dom, 2),
        "selftest": (selftest, 0),
    }
    command = commands.get(sys.argv[1]) if len(sys.argv) > 1 else None
    if command is None or not 2 + min(command[1], 1) <= len(sys.argv) <= 2 + command[1]:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    command[0](*sys.argv[2:])


if __name__ == "__main__":
    main()
