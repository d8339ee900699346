"""HTML evidence: each executed notebook is saved as HTML next to the reports.

One nbconvert ``HTMLExporter`` is built once and reused for every notebook; images
produced by the notebooks are embedded in the page, so the HTML stands alone.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from . import paths


@functools.lru_cache(maxsize=1)
def exporter():
    from nbconvert import HTMLExporter  # imported on first use: it takes a while

    return HTMLExporter(template_name="lab")


def export_html(notebook: str | os.PathLike, html: str | os.PathLike | None = None) -> Path:
    """Write ``notebook`` (an executed .ipynb) as HTML; returns the HTML path."""
    notebook = Path(notebook)
    html = Path(html) if html else notebook.with_suffix(".html")
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    body, _ = exporter().from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    tmp = html.with_name(f".{html.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    paths.replace_atomically(tmp, html)
    return html
