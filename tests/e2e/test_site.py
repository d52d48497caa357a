"""The demo site in htdocs/, as a browser sees it.

The real binary serves the repository's htdocs/ with --debug. Every page
reachable from / is crawled over raw sockets: each href and src (and each
url() in a stylesheet) must answer 200 with the bytes of the file on disk, a
#fragment must name an id on its page, and nothing may point off the site.
Each page is then loaded in headless Chromium, which writes its DOM, a
screenshot and a NetLog; the NetLog says what the browser itself requested
and which status each response had, so every request to the server must have
got a 200 and every image and stylesheet of the page must be among them. The
server's --debug log must show the files being served, and the screenshot
must show the logo, the banner's PNG and, on the pipeline page, the diagram.

Skips (exit 77) when io_uring is unavailable or chromium is not installed
(tools/test installs it).
"""

import html.parser
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.parse
import zlib

import harness

HTDOCS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "htdocs"))
REQUIRED_PAGES = ("/", "/pipeline.html")
WINDOW = (1000, 720)

# Colours the site uses in exactly one place each.
LOGO_GREEN = (0x2A, 0x9D, 0x4B)   # img/logo.svg's right-hand square
BANNER_FALLBACK = (0x0B, 0x62, 0xA4)  # .banner's colour when img/gradient.png is missing
PIPE_FILL = (0xFD, 0xF0, 0xE0)    # the pipeline diagram's orange boxes
FILE_FILL = (0xE6, 0xF0, 0xF8)    # the pipeline diagram's blue boxes

# Attributes that name something to fetch or follow.
URL_ATTRS = {"href", "src", "poster", "data", "action", "xlink:href"}


def find_chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    print("chromium not installed (tools/test installs it): skipping")
    raise SystemExit(harness.SKIP)


class Links(html.parser.HTMLParser):
    """Every URL-valued attribute, <style> text, ids and the <title>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs = []  # (tag, attr, value, rel)
        self.ids = set()
        self.styles = []
        self.title = ""
        self._in = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for name, value in attrs:
            if value is None:
                continue
            if name in URL_ATTRS:
                self.refs.append((tag, name, value.strip(), (a.get("rel") or "").lower().split()))
            elif name == "srcset":
                for part in value.split(","):
                    if part.strip():
                        self.refs.append((tag, name, part.split()[0], []))
            elif name == "style":
                self.styles.append(value)
        if tag in ("style", "title"):
            self._in = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "style":
            self.styles.append(data)
        elif self._in == "title":
            self.title += data


def page_title(body):
    p = Links()
    p.feed(body.decode("utf-8"))
    return p.title.strip()


def css_urls(text):
    """url(...) and @import targets of a stylesheet; fragment-only ones
    (SVG paint servers) are not fetches."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    found = [m.group(2) for m in re.finditer(r"url\(\s*(['\"]?)(.*?)\1\s*\)", text)]
    found += [m.group(2) for m in re.finditer(r"@import\s+(['\"])(.*?)\1", text)]
    return [u for u in found if not u.startswith("#")]


def read_png(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA PNG, the
    kind Chromium writes."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"{path} is not a PNG")
    pos, idat = 8, []
    width = height = bpp = None
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or color not in (2, 6) or interlace:
                raise AssertionError(f"unexpected PNG format depth={depth} color={color} interlace={interlace}")
            bpp = 3 if color == 2 else 4
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:  # Up
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif kind != 0:
            raise AssertionError(f"bad PNG filter {kind}")
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def netlog_requests(path, origin):
    """The browser's requests to `origin` from a NetLog: a list of dicts with
    url, status (None when no response head arrived), cached, net_error."""
    with open(path) as f:
        log = json.load(f)
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    requests = {}
    for event in log["events"]:
        name = names.get(event["type"])
        source = event["source"]["id"]
        params = event.get("params") or {}
        if name == "REQUEST_ALIVE" and event.get("phase") == 1:
            requests[source] = {"url": params.get("url", ""), "status": None, "cached": False, "net_error": 0}
        if source not in requests:
            continue
        r = requests[source]
        if name == "HTTP_TRANSACTION_READ_RESPONSE_HEADERS":
            r["status"] = int(params["headers"][0].split()[1])
        elif name == "HTTP_CACHE_READ_INFO":
            r["cached"] = True
        elif name == "REQUEST_ALIVE" and event.get("phase") == 2 and params.get("net_error"):
            r["net_error"] = params["net_error"]
    return [r for r in requests.values() if r["url"].startswith(origin + "/")]


class Site(harness.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.chromium = find_chromium()
        cls.server = harness.Server(HTDOCS, "--debug", threads=1)
        cls.origin = f"http://127.0.0.1:{cls.server.port}"
        cls.tmp = tempfile.mkdtemp(prefix="splicehttpd-site-")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop_checked()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ------------------------------------------------------------ crawling

    def get(self, path):
        return self.server.get(path, headers={"Host": f"127.0.0.1:{self.server.port}"})

    def on_disk(self, path):
        rel = urllib.parse.unquote(path).lstrip("/")
        full = os.path.join(HTDOCS, rel)
        if path.endswith("/"):
            full = os.path.join(full, "index.html")
        with open(full, "rb") as f:
            return f.read()

    def crawl(self):
        """{path: (content type, body)} of everything reachable from /, and
        the list of (page, reference) that were checked."""
        seen, refs, queue = {}, [], ["/"]
        fragments = []  # (from page, target path, fragment)
        parsed = {}
        while queue:
            path = queue.pop(0)
            if path in seen:
                continue
            resp = self.get(path)
            self.assertEqual(resp.status, 200, f"GET {path}: {resp.status} {resp.reason}")
            self.assertEqual(resp.body, self.on_disk(path), f"GET {path}: not the file's bytes")
            ctype = resp.header("content-type", "").split(";")[0].strip()
            seen[path] = (ctype, resp.body)
            base = self.origin + path
            found = []
            if ctype == "text/html":
                p = Links()
                p.feed(resp.body.decode("utf-8"))
                parsed[path] = p
                found = [v for _, _, v, _ in p.refs]
                for style in p.styles:
                    found += css_urls(style)
            elif ctype == "text/css":
                found = css_urls(resp.body.decode("utf-8"))
            for value in found:
                url = urllib.parse.urljoin(base, value)
                parts = urllib.parse.urlsplit(url)
                self.assertEqual(f"{parts.scheme}://{parts.netloc}", self.origin,
                                 f"{path} links off the site: {value!r}")
                target = parts.path or "/"
                refs.append((path, value, target))
                if parts.fragment:
                    fragments.append((path, target, parts.fragment))
                if target not in seen:
                    queue.append(target)
        for page, target, fragment in fragments:
            self.assertIn(target, parsed, f"{page}: #{fragment} points into {target}, not a page")
            self.assertIn(fragment, parsed[target].ids, f"{page}: no id {fragment!r} on {target}")
        return seen, refs, parsed

    def test_every_link_resolves(self):
        seen, refs, parsed = self.crawl()
        for page in REQUIRED_PAGES:
            self.assertIn(page, parsed, f"{page} is not reachable from /")
        self.assertGreater(len(refs), 10, refs)
        # The pipeline page draws the pipeline, stage by stage.
        text = seen["/pipeline.html"][1].decode()
        svg = text[text.index("<svg"):text.index("</svg>")]
        for stage in ("recv", "llhttp", "openat2", "statx", "send headers", "splice file → pipe",
                      "splice pipe → socket", "pipe pool", "short splice"):
            self.assertIn(stage, svg, f"the diagram lacks {stage!r}")
        # A large file to try ranges on is linked and answers ranges.
        self.assertIn("/files/lines.txt", seen)
        resp = self.server.get("/files/lines.txt", headers={"Range": "bytes=64-127"})
        self.assertEqual(resp.status, 206)
        self.assertTrue(resp.body.startswith(b"line 0002 of 2048"), resp.body)

    # ------------------------------------------------------------ browser

    def browse(self, path):
        """Loads one page in a fresh headless Chromium; returns the DOM, the
        NetLog's requests to the server and the screenshot's path."""
        profile = tempfile.mkdtemp(prefix="chromium-", dir=self.tmp)
        netlog = os.path.join(profile, "netlog.json")
        shot = os.path.join(profile, "screenshot.png")
        args = [
            self.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}",
            # Nothing but the server under test is reachable by name or address.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--log-net-log={netlog}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars",
            f"--screenshot={shot}", "--dump-dom",
            self.origin + path,
        ]
        env = dict(os.environ, HOME=profile, XDG_CONFIG_HOME=profile, XDG_CACHE_HOME=profile)
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            out, err = b"", b"timed out"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # helpers left behind, if any
            except ProcessLookupError:
                pass
            proc.wait()
        tail = "\n".join(err.decode(errors="replace").splitlines()[-15:])
        self.assertEqual(proc.returncode, 0, f"chromium {path} failed:\n{tail}")
        self.assertTrue(os.path.exists(netlog) and os.path.exists(shot), f"chromium {path}: no output\n{tail}")
        return out.decode("utf-8", errors="replace"), netlog_requests(netlog, self.origin), shot

    def check_page(self, path):
        start = len(self.server.log())
        dom, requests, shot = self.browse(path)
        page = Links()
        page.feed(dom)
        self.assertEqual(page.title.strip(), page_title(self.on_disk(path)), f"{path}: not the page's DOM")

        # Every request the browser sent got a 200 from the server (a
        # request cut short because the page was done, such as the icon,
        # is fine when the same URL also arrived whole).
        self.assertTrue(requests, f"{path}: the NetLog has no request to {self.origin}")
        ok = {r["url"] for r in requests if r["status"] == 200 and not r["net_error"]}
        for r in requests:
            if r["net_error"] == -3 and r["url"] in ok:  # ERR_ABORTED
                continue
            self.assertFalse(r["net_error"], f"{path}: {r['url']} failed with net error {r['net_error']}")
            if r["cached"] and r["status"] is None:
                self.assertIn(r["url"], ok, f"{path}: {r['url']} from the cache without a 200 first")
                continue
            self.assertEqual(r["status"], 200, f"{path}: {r['url']} answered {r['status']}")
        self.assertIn(self.origin + path, ok)

        # ... and the browser did fetch every image and stylesheet of the
        # page, and what the stylesheets refer to.
        wanted = set()
        for tag, attr, value, rel in page.refs:
            if (tag == "img" and attr == "src") or (tag == "link" and "stylesheet" in rel):
                wanted.add(urllib.parse.urljoin(self.origin + path, value))
        for url in [u for u in wanted if u.endswith(".css")]:
            css = self.on_disk(urllib.parse.urlsplit(url).path).decode()
            wanted.update(urllib.parse.urljoin(url, u) for u in css_urls(css))
        self.assertTrue(wanted, f"{path} has no images or stylesheets")
        self.assertEqual(wanted - ok, set(), f"{path}: not loaded by the browser")

        # The server saw them: at least one send per file served (small
        # bodies are read, or taken from the open-file cache, and sent with
        # the head; larger ones spliced after it).
        fetched = len({r["url"] for r in requests if r["status"] == 200})
        deadline = time.time() + 10
        while True:
            log = self.server.log()[start:]
            sends = sum(1 for line in log if re.search(r" send\(\d+\) ", line))
            if sends >= fetched or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertGreaterEqual(sends, fetched, f"{path}: too few sends:\n" + "\n".join(log))
        problems = [line for line in log if re.search(r" (warning|error|critical) ", line)]
        self.assertEqual(problems, [], f"{path}: the server complained")
        return page, shot

    def check_screenshot(self, path, shot, min_counts):
        width, height, rows = read_png(shot)
        self.assertEqual((width, height), WINDOW)
        counts = {colour: 0 for colour in min_counts}
        for row in rows:
            for px in row:
                if px in counts:
                    counts[px] += 1
        for colour, least in min_counts.items():
            self.assertGreaterEqual(counts[colour], least,
                                    f"{path}: screenshot has {counts[colour]} pixels of #{bytes(colour).hex()}")
        # The banner is img/gradient.png stretched across the top: its two
        # ends differ, and neither is the plain fallback colour.
        left, right = rows[2][2], rows[2][width - 3]
        self.assertNotEqual(left, BANNER_FALLBACK, f"{path}: banner without its PNG")
        self.assertNotEqual(left, (255, 255, 255), f"{path}: no banner (stylesheet not applied?)")
        self.assertGreater(sum(abs(a - b) for a, b in zip(left, right)), 100,
                           f"{path}: banner ends {left} and {right} are alike")

    def test_pages_in_chromium(self):
        _, _, parsed = self.crawl()
        for page in REQUIRED_PAGES:
            self.assertIn(page, parsed, f"{page} is not reachable from /")
        for path in sorted(parsed):
            with self.subTest(path=path):
                dom, shot = self.check_page(path)
                colours = {LOGO_GREEN: 150}
                if path == "/pipeline.html":
                    self.assertIn("diagram", dom.ids, "no inline SVG diagram in the DOM")
                    colours.update({PIPE_FILL: 5000, FILE_FILL: 5000})
                self.check_screenshot(path, shot, colours)


if __name__ == "__main__":
    harness.main()
