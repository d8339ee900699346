"""Executed notebooks as HTML evidence: standalone, no CDN, code hidden on request."""

import nbformat

from bottleneck_pipeline import evidence


def executed_notebook(path):
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("SECRET_CODE_MARKER = 6 * 7\nSECRET_CODE_MARKER")
    code.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "42"}, execution_count=1)]
    failed = nbformat.v4.new_code_cell("raise ValueError('boom')")
    failed.outputs = [
        nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=["ValueError: boom"])
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), code, failed]
    nbformat.write(nb, path)
    return path


def test_html_stands_alone_and_can_hide_the_code(tmp_path):
    nb = executed_notebook(tmp_path / "03_analysis.ipynb")
    html = evidence.export_html(nb).read_text(encoding="utf-8")
    assert "SECRET_CODE_MARKER" in html and "42" in html and "Title" in html
    assert "cdn" not in html.lower() and "<script src=" not in html
    hidden = evidence.export_html(nb, tmp_path / "hidden.html", hide_code=True).read_text(encoding="utf-8")
    assert "SECRET_CODE_MARKER = 6" not in hidden and "42" in hidden and "boom" in hidden
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
