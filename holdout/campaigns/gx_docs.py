"""Great Expectations Data Docs that load nothing from the internet.

GX 1.x pages take their CSS, JavaScript and icon font from CDNs and their logo from a remote bucket, with the
data context id in the logo's URL. Offline such a page is unstyled, the index (a table JavaScript fills in)
lists nothing, and opening any page sends the context id to a remote host. `OfflineSiteBuilder`, named by the
site in expectations/great_expectations.yml, builds the site as GX does and then makes every page
self-contained: remote scripts, stylesheets and the newsletter footer are removed, the logo points at the copy
GX ships into the site's `static/images/`, a local stylesheet (`static/styles/holdout_offline.css`, written
here) replaces the CDN ones, and the index is rewritten as a plain HTML list of suites and validation results.
The pages need no JavaScript: collapsible sections are simply shown.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from great_expectations.render.renderer.site_builder import SiteBuilder

MARKER = '<meta name="holdout-data-docs" content="offline">'
STYLESHEET = "static/styles/holdout_offline.css"
LOGO = "static/images/logo-long.png"

_REMOTE = r"""["']?(?:https?:)?//[^"'\s>)]*["']?"""
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S | re.I)
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*" + _REMOTE + r"[^>]*>", re.I)
_REMOTE_IMG_SRC = re.compile(r"(<img\b[^>]*?\bsrc\s*=\s*)" + _REMOTE, re.I)
_REMOTE_CSS_URL = re.compile(r"url\(\s*" + _REMOTE + r"\s*\)", re.I)
_NEWSLETTER = re.compile(r"<footer>\s*<p>Stay current.*?</footer>", re.S)
# GX computes the depth of `static/` per page type and gets it wrong for the favicon of validation pages
_LOCAL_STATIC = re.compile(r"""(\b(?:src|href)\s*=\s*["'])(?:\./|\.\./)*static/""", re.I)

# Our own small stylesheet for the Bootstrap classes GX's markup uses (the CDN copy is not available offline).
CSS = """
body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #212529; background: #fff; }
a { color: #0b5cad; text-decoration: none; } a:hover { text-decoration: underline; }
h1, h2, h3, h4, h5, h6 { margin: .4em 0 .5em; font-weight: 500; line-height: 1.2; }
code, pre { font-family: SFMono-Regular, Menlo, Consolas, monospace; font-size: 90%; }
pre { white-space: pre-wrap; }
.container-fluid { padding: 0 1.5rem; box-sizing: border-box; width: 100%; }
.row { display: flex; flex-wrap: wrap; margin: 0 -.5rem; }
.row > * { box-sizing: border-box; padding: 0 .5rem; width: 100%; }
@media (min-width: 768px) {
  .col-md-2 { flex: 0 0 16.66%; max-width: 16.66%; } .col-md-10 { flex: 0 0 83.33%; max-width: 83.33%; }
  .col-md-6 { flex: 0 0 50%; max-width: 50%; } .col-md-4 { flex: 0 0 33.33%; max-width: 33.33%; }
  .col-md-8 { flex: 0 0 66.66%; max-width: 66.66%; } .col-md-3 { flex: 0 0 25%; max-width: 25%; }
}
.col-12 { flex: 0 0 100%; max-width: 100%; }
.navbar { display: flex; align-items: center; padding: .5rem 1.5rem; background: #fff; }
.sticky-top, .sticky { position: sticky; top: 0; z-index: 10; }
.border-bottom { border-bottom: 1px solid #dee2e6; }
.nav { list-style: none; padding-left: 0; margin: 0; } .nav-link { display: block; padding: .25rem 0; }
.breadcrumb { display: flex; list-style: none; margin: 0 0 0 1rem; padding: 0; }
.breadcrumb-item + .breadcrumb-item::before { content: "/"; padding: 0 .5rem; color: #6c757d; }
.card { border: 1px solid #dee2e6; border-radius: .3rem; margin-bottom: 1rem; background: #fff; }
.card-header { padding: .6rem 1rem; background: #f7f7f9; border-bottom: 1px solid #dee2e6; }
.card-body { padding: .8rem 1rem; }
.table { width: 100%; border-collapse: collapse; margin-bottom: 1rem; }
.table th, .table td { padding: .45rem .6rem; border-top: 1px solid #dee2e6; vertical-align: top; text-align: left; }
.table thead th { border-bottom: 2px solid #dee2e6; }
.table-sm th, .table-sm td { padding: .25rem .4rem; }
.table-responsive { overflow-x: auto; }
.badge { display: inline-block; padding: .2em .45em; font-size: 80%; border-radius: .25rem; }
.badge-secondary { background: #e9ecef; color: #343a40; } .badge-info { background: #d1ecf1; }
.alert { padding: .5rem .8rem; border-radius: .25rem; margin-bottom: .5rem; }
.alert-secondary { background: #f1f3f5; } .alert-danger { background: #f8d7da; }
.btn { display: inline-block; padding: .25rem .6rem; border: 1px solid #ced4da; border-radius: .25rem; }
.text-success { color: #1e7e34; } .text-danger { color: #bd2130; } .text-warning { color: #b37400; }
.text-muted { color: #6c757d; } .bg-light { background: #f8f9fa; }
.d-none { display: none; } .d-flex { display: flex; } .float-left { float: left; }
.m-0 { margin: 0; } .mb-0 { margin-bottom: 0; } .mt-0 { margin-top: 0; } .mb-4 { margin-bottom: 1.5rem; }
.pt-4 { padding-top: 1.5rem; } .pb-4 { padding-bottom: 1.5rem; }
.collapse { display: block; }
.fas, .far, .fa { font-style: normal; }
.fa-check-circle::before { content: "\\2714"; } .fa-times::before { content: "\\2716"; }
.fa-question-circle::before { content: "?"; } .fa-exclamation-triangle::before { content: "\\26A0"; }
.fa-comment::before { content: "\\1F4AC"; }
.holdout-index td.ok { color: #1e7e34; } .holdout-index td.failed { color: #bd2130; font-weight: 600; }
"""


def make_offline(page: str, depth: int) -> str:
    """One rendered page, `depth` folders below the site root, with nothing remote and `static/` found."""
    if MARKER in page:
        return page
    up = "../" * depth
    page = _SCRIPT.sub("", page)  # CDN libraries and the inline code that needs them (jQuery, vega)
    page = _REMOTE_LINK.sub("", page)
    page = _REMOTE_IMG_SRC.sub(lambda m: f'{m.group(1)}"{up}{LOGO}"', page)  # the only remote image: the logo
    page = _REMOTE_CSS_URL.sub("none", page)
    page = _NEWSLETTER.sub("", page)
    page = _LOCAL_STATIC.sub(lambda m: f"{m.group(1)}{up}static/", page)
    head = f'{MARKER}\n<link rel="stylesheet" href="{up}{STYLESHEET}">\n'
    return page.replace("</head>", head + "</head>", 1)


def index_page(index_links: dict) -> str:
    """A static index: every validation result (newest first) and every suite, as links."""
    esc = html.escape
    validations = sorted(
        index_links.get("validations_links") or [], key=lambda v: str(v.get("run_time") or ""), reverse=True
    )
    rows = []
    for v in validations:
        ok = v.get("validation_success")
        status = "passed" if ok else "failed"
        rows.append(
            "<tr>"
            f'<td class="{"ok" if ok else "failed"}">{status}</td>'
            f'<td><a href="{esc(v["filepath"])}">{esc(str(v.get("run_name") or ""))}</a></td>'
            f"<td>{esc(str(v.get('run_time') or ''))}</td>"
            f"<td>{esc(str(v.get('expectation_suite_name') or ''))}</td>"
            f"<td>{esc(str(v.get('asset_name') or v.get('batch_identifier') or ''))}</td>"
            "</tr>"
        )
    suites = "".join(
        f'<li><a href="{esc(s["filepath"])}">{esc(s["expectation_suite_name"])}</a></li>'
        for s in index_links.get("expectations_links") or []
    )
    body = "\n".join(rows) or '<tr><td colspan="5">No validation results yet.</td></tr>'
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
{MARKER}
<title>Data Docs: {esc(str(index_links.get("site_name") or ""))}</title>
<link rel="stylesheet" href="{STYLESHEET}">
<link rel="icon" href="static/images/favicon.ico">
</head>
<body class="holdout-index">
<nav class="navbar border-bottom"><img src="{LOGO}" alt="Great Expectations" style="height: 40px"></nav>
<div class="container-fluid pt-4 pb-4">
<h2>Validation results</h2>
<div class="table-responsive"><table class="table table-sm" id="validations">
<thead><tr><th>Status</th><th>Run</th><th>Run time</th><th>Suite</th><th>Asset</th></tr></thead>
<tbody>
{body}
</tbody>
</table></div>
<h2>Expectation suites</h2>
<ul id="suites">{suites}</ul>
</div>
</body>
</html>
"""


class OfflineSiteBuilder(SiteBuilder):
    """GX's SiteBuilder whose pages reference no remote script, stylesheet, image or font (see module doc)."""

    def build(self, resource_identifiers=None, build_index: bool = True):
        url, index_links = super().build(resource_identifiers=resource_identifiers, build_index=build_index)
        root = getattr(self.target_store.store_backends["index_page"], "full_base_directory", None)
        if root is None:  # not a filesystem site: nothing of ours to rewrite
            return url, index_links
        root = Path(root)
        (root / STYLESHEET).parent.mkdir(parents=True, exist_ok=True)
        (root / STYLESHEET).write_text(CSS)
        default_css = root / "static" / "styles" / "data_docs_default_styles.css"
        if default_css.exists():
            default_css.write_text(_REMOTE_CSS_URL.sub("none", default_css.read_text()))
        if index_links is not None:
            self.target_store.write_index_page(index_page(index_links))
        for page in root.rglob("*.html"):
            text = page.read_text()
            if MARKER not in text:
                page.write_text(make_offline(text, len(page.relative_to(root).parts) - 1))
        return url, index_links
