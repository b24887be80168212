"""netplay graph's HTML page: one self-contained file (the SVG Graphviz drew, inline, and a
script that pans and zooms it), loaded in a real headless Chromium, which must show every
node and run the script (zoom with the wheel, drag to pan, the buttons)."""

import html
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from netplay.load import builtins
from netplay.render import graph
from netplay.render import html as page

HAS_DOT = shutil.which("dot") is not None
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)),
                None)
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH: scripts/setup.sh installs Debian's chromium")

# Run after the page's own script: the wheel, a drag, then the fit and zoom-out buttons, as a
# user would; each viewBox it leads to is written into the DOM that --dump-dom prints.
EXERCISE = """<script>
(function () {
  var svg = document.querySelector("#picture svg");
  function box() { var v = svg.viewBox.baseVal; return [v.x, v.y, v.width, v.height]; }
  var r = svg.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
  var out = {start: box()};
  svg.dispatchEvent(new WheelEvent("wheel", {deltaY: -100, clientX: x, clientY: y,
                                             bubbles: true, cancelable: true}));
  out.zoomed = box();
  svg.dispatchEvent(new PointerEvent("pointerdown", {clientX: x, clientY: y, bubbles: true}));
  svg.dispatchEvent(new PointerEvent("pointermove", {clientX: x + 50, clientY: y + 20,
                                                     bubbles: true}));
  svg.dispatchEvent(new PointerEvent("pointerup", {clientX: x + 50, clientY: y + 20,
                                                   bubbles: true}));
  out.dragged = box();
  document.getElementById("zoom-fit").click();
  out.fit = box();
  document.getElementById("zoom-out").click();
  out.out = box();
  document.body.setAttribute("data-exercise", JSON.stringify(out));
})();
</script>
"""


def dump_dom(path, tmp_path):
    """The DOM of a file:// page after its scripts ran, as headless Chromium prints it."""
    proc = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox",
                           "--no-first-run", "--disable-extensions",
                           f"--user-data-dir={tmp_path / 'chromium-profile'}",
                           "--window-size=1000,700", "--dump-dom", path.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "<svg" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def svg_texts(dom):
    return {html.unescape(t).strip() for t in re.findall(r"<text\b[^>]*>([^<]*)</text>", dom)}


@needs_dot
def test_the_page_is_one_file_with_the_svg_inline_and_nothing_to_fetch(netplay, tmp_path):
    out = tmp_path / "fabric.html"
    result = netplay("graph", "leafspine:2,2,2", "-o", str(out))
    assert result.rc == 0 and "(html," in result.err, result
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == 1
    assert "<!DOCTYPE svg" not in text and "<?xml" not in text  # the DTD's URL is gone
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", text)
    urls = set(re.findall(r"https?://[^\"' )]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    svg = ET.fromstring(text[text.index("<svg"):text.index("</svg>") + 6])
    texts = {t.text for t in svg.iter() if t.tag.endswith("text")}
    assert set(graph.units(builtins.load("leafspine:2,2,2"))) <= texts
    # --format html writes the same page to stdout
    assert netplay("graph", "leafspine:2,2,2", "--format", "html").out == text


def test_page_refuses_what_is_not_svg():
    with pytest.raises(ValueError):
        page.page("<html></html>", "x")


def test_html_without_graphviz_says_so_in_one_line(netplay, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = netplay("graph", "home", "-o", str(tmp_path / "home.html"),
                     env={"PATH": str(empty)})
    assert result.rc == 2 and result.err.count("\n") == 1
    assert "rendering html needs Graphviz's `dot`" in result.err


@needs_dot
@needs_chromium
@pytest.mark.parametrize("spec", ["leafspine:2,2,2", "linear:12", "home"])
def test_chromium_shows_every_node_and_runs_the_pan_zoom_script(netplay, tmp_path, spec):
    out = tmp_path / "picture.html"
    assert netplay("graph", spec, "-o", str(out)).rc == 0
    dom = dump_dom(out, tmp_path)
    missing = set(graph.units(builtins.load(spec))) - svg_texts(dom)
    assert not missing, f"not in the rendered page: {sorted(missing)}"
    assert re.search(r'<div id="picture"[^>]*\bdata-panzoom="ready"', dom)


@needs_dot
@needs_chromium
def test_chromium_zooms_with_the_wheel_pans_with_a_drag_and_fits_again(tmp_path):
    text = graph.output(builtins.load("tree:2,2"), "html").decode()
    out = tmp_path / "tree.html"
    out.write_text(text.replace("</body>", EXERCISE + "</body>"))
    m = re.search(r'data-exercise="([^"]*)"', dump_dom(out, tmp_path))
    assert m, "the exercise did not run"
    seen = json.loads(html.unescape(m.group(1)))
    x, y, w, h = seen["start"]
    zx, zy, zw, zh = seen["zoomed"]
    assert zw == pytest.approx(w / 1.25) and zh == pytest.approx(h / 1.25)  # zoomed in
    # around the pointer, in the middle of the page: the middle of the picture stays put
    assert zx + zw / 2 == pytest.approx(x + w / 2, abs=1) and \
        zy + zh / 2 == pytest.approx(y + h / 2, abs=1)
    dx, dy, dw, dh = seen["dragged"]
    assert (dw, dh) == (zw, zh) and dx < zx and dy < zy  # the picture followed the pointer
    assert seen["fit"] == pytest.approx(seen["start"])
    assert seen["out"][2] == pytest.approx(w * 1.25)
