"""A picture as one self-contained HTML page: the SVG Graphviz drew, inline, and a few lines
of script to pan it (drag) and zoom it (mouse wheel, the + - and fit buttons).

Nothing is fetched: no script, style sheet or font is linked, so the file opens the same
offline, from a mail attachment or a CI artifact. The script zooms and pans by changing the
SVG's viewBox (the picture stays vector-sharp at any zoom) and marks the page
`data-panzoom="ready"` once it is wired, which the tests read in a headless browser.
"""

import html
import re

STYLE = """
html, body { margin: 0; height: 100%; font-family: Helvetica, Arial, sans-serif; }
#bar { position: fixed; top: 8px; right: 8px; z-index: 1; }
#bar button { font-size: 16px; min-width: 2.2em; margin-left: 4px; }
#picture { position: absolute; inset: 0; overflow: hidden; cursor: grab; }
#picture.dragging { cursor: grabbing; }
#picture > svg { width: 100%; height: 100%; display: block; touch-action: none; }
"""

# Zoom keeps the point under the cursor still; a drag moves the picture with the pointer.
SCRIPT = """
(function () {
  var box = document.getElementById("picture"), svg = box.querySelector("svg");
  if (!svg) return;
  var v = svg.viewBox.baseVal;
  if (!v || !v.width) {
    var b = svg.getBBox();
    svg.setAttribute("viewBox", [b.x, b.y, b.width, b.height].join(" "));
    v = svg.viewBox.baseVal;
  }
  var home = [v.x, v.y, v.width, v.height];
  function show(x, y, w, h) { svg.setAttribute("viewBox", [x, y, w, h].join(" ")); }
  function zoom(f, cx, cy) {
    show(cx - (cx - v.x) / f, cy - (cy - v.y) / f, v.width / f, v.height / f);
  }
  function at(e) {
    var p = svg.createSVGPoint();
    p.x = e.clientX; p.y = e.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  function middle(f) { zoom(f, v.x + v.width / 2, v.y + v.height / 2); }
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var p = at(e);
    zoom(e.deltaY < 0 ? 1.25 : 0.8, p.x, p.y);
  }, {passive: false});
  var drag = null;
  svg.addEventListener("pointerdown", function (e) {
    drag = {x: e.clientX, y: e.clientY, scale: svg.getScreenCTM().a};
    box.classList.add("dragging");
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) return;
    show(v.x - (e.clientX - drag.x) / drag.scale, v.y - (e.clientY - drag.y) / drag.scale,
         v.width, v.height);
    drag.x = e.clientX; drag.y = e.clientY;
  });
  window.addEventListener("pointerup", function () {
    drag = null;
    box.classList.remove("dragging");
  });
  document.getElementById("zoom-in").onclick = function () { middle(1.25); };
  document.getElementById("zoom-out").onclick = function () { middle(0.8); };
  document.getElementById("zoom-fit").onclick = function () { show.apply(null, home); };
  box.setAttribute("data-panzoom", "ready");
})();
"""


def _inline(svg: str) -> str:
    """The <svg> element alone: Graphviz's XML declaration, DOCTYPE (a URL a browser might
    fetch) and comments before it dropped, its fixed width and height left to the page."""
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("not an SVG document")
    body = svg[start:]
    head_end = body.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", body[:head_end])
    return head + body[head_end:]


def page(svg: str, title: str) -> str:
    """One HTML page showing svg (Graphviz's output) that pans and zooms."""
    name = html.escape(title)
    return ("<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            '<div id="bar"><button id="zoom-in" title="zoom in">+</button>'
            '<button id="zoom-out" title="zoom out">&#8722;</button>'
            '<button id="zoom-fit" title="fit the page">fit</button></div>\n'
            f'<div id="picture" data-topology="{name}">\n{_inline(svg)}</div>\n'
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n")
