"""HTML evidence: each executed notebook is saved as HTML next to the reports.

One nbconvert ``HTMLExporter`` is built once and reused for every notebook. Its template
(``templates/evidence``) is JupyterLab's without the scripts it would fetch from a CDN;
images are embedded, so each page stands alone and opens offline. For business readers
the code cells can be hidden (``html_hide_code``): headings, narrative, tables, charts
and any error stay.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from . import paths

TEMPLATES = paths.TEMPLATES_DIR


@functools.lru_cache(maxsize=2)
def exporter(hide_code: bool = False):
    from nbconvert import HTMLExporter  # imported on first use: it takes a while

    return HTMLExporter(
        extra_template_basedirs=[str(TEMPLATES)],
        template_name="evidence",
        exclude_input=hide_code,
        exclude_input_prompt=hide_code,
        exclude_output_prompt=hide_code,
    )


def export_html(
    notebook: str | os.PathLike, html: str | os.PathLike | None = None, hide_code: bool = False, title: str = ""
) -> Path:
    """Write ``notebook`` (an executed .ipynb) as HTML titled ``title`` (default: its name);
    returns the HTML path."""
    notebook = Path(notebook)
    html = Path(html) if html else notebook.with_suffix(".html")
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    body, _ = exporter(hide_code).from_notebook_node(nb, resources={"metadata": {"name": title or notebook.stem}})
    with paths.atomic_path(html) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return html
