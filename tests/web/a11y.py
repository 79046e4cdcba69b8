"""An accessibility check run inside the page, in place of axe-core (which is on npm, not
PyPI): WCAG 2.2 AA contrast of every visible text against what is really behind it, and an
accessible name on every control, link, image and form field.

Contrast: for each element with text of its own, the text colour is composited over the
backgrounds of all its ancestors (alpha included), and the ratio is measured as WCAG
defines it; 4.5:1 is needed, 3:1 for large text (24px, or 18.66px bold).
"""

from __future__ import annotations

from typing import Any

CHECK = r"""
() => {
  const problems = [];
  const parse = (text) => {
    const m = text.match(/rgba?\(([^)]+)\)/);
    if (!m) { return {r: 0, g: 0, b: 0, a: 0}; }
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(parseFloat);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, below) => ({
    r: top.r * top.a + below.r * (1 - top.a), g: top.g * top.a + below.g * (1 - top.a),
    b: top.b * top.a + below.b * (1 - top.a), a: 1});
  const luminance = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const behind = (element) => {
    const chain = [];
    for (let e = element; e; e = e.parentElement) { chain.push(e); }
    let colour = {r: 255, g: 255, b: 255, a: 1};
    for (const e of chain.reverse()) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.a > 0) { colour = over(c, colour); }
    }
    return colour;
  };
  const visible = (e) => {
    const s = getComputedStyle(e);
    if (s.visibility === "hidden" || s.display === "none" || e.closest("[hidden]")) { return false; }
    const box = e.getBoundingClientRect();
    return box.width > 1 && box.height > 1;
  };
  let texts = 0;
  for (const e of document.body.querySelectorAll("*")) {
    const own = Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !visible(e) || e.closest("svg")) { continue; }
    texts += 1;
    const s = getComputedStyle(e);
    const bg = behind(e);
    const fg = over(parse(s.color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (parseInt(s.fontWeight, 10) >= 700 && size >= 18.66);
    const needed = large ? 3 : 4.5;
    if (ratio + 0.005 < needed) {
      problems.push(`contrast ${ratio.toFixed(2)} < ${needed} for "${e.textContent.trim().slice(0, 40)}"`);
    }
  }
  const name = (e) => {
    if (e.getAttribute("aria-label")) { return e.getAttribute("aria-label"); }
    const by = e.getAttribute("aria-labelledby");
    if (by) { return by.split(/\s+/).map((id) => (document.getElementById(id) || {}).textContent || "").join(" "); }
    if (e.id) {
      const label = document.querySelector(`label[for="${e.id}"]`);
      if (label) { return label.textContent; }
    }
    if (e.tagName === "IMG") { return e.getAttribute("alt") || ""; }
    if (e.tagName.toLowerCase() === "svg") { const t = e.querySelector("title"); return t ? t.textContent : ""; }
    return e.textContent;
  };
  const controls = "a[href], button, input, select, textarea, progress, img, svg, [role=button], " +
                   "nav, section, aside, table";
  for (const e of document.querySelectorAll(controls)) {
    if (e.tagName === "TABLE") {
      if (!e.querySelector("th")) { problems.push("a table without headers"); }
      continue;
    }
    if (!(name(e) || "").trim()) { problems.push(`no accessible name: <${e.tagName.toLowerCase()}>`); }
  }
  if (!document.documentElement.lang) { problems.push("no lang on <html>"); }
  if (!document.title.trim()) { problems.push("no title"); }
  if (document.querySelectorAll("h1").length !== 1) { problems.push("not exactly one h1"); }
  if (!document.querySelector("main")) { problems.push("no main landmark"); }
  for (const e of document.querySelectorAll("[tabindex]")) {
    if (parseInt(e.getAttribute("tabindex"), 10) > 0) { problems.push("a positive tabindex"); }
  }
  return {problems, texts};
}
"""


async def accessibility_problems(page: Any) -> list[str]:
    """What the page gets wrong; the check fails loudly if it found no text at all."""
    found = await page.evaluate(CHECK)
    assert found["texts"] >= 2, "the check saw no text: is the page empty?"
    return list(found["problems"])
