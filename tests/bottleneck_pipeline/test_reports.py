import openpyxl
import pytest

from bottleneck_pipeline import fr, products, reports
from tests.bottleneck_pipeline.conftest import classify
from tests.conftest import erp_frame, web_frame, workbook_detail, workbook_totals


def test_revenue_report_cells(staged, tmp_path):
    web = web_frame()
    web.loc[0, "post_title"] = '=HYPERLINK("http://x")'
    con = classify(staged(fmt="csv", web=web))  # csv: a text cell, not an Excel formula
    path = reports.revenue_report(con, tmp_path / "rapport_CA.xlsx", "run-1", period="2026-11")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["CA total", "CA par produit"]
    total = wb["CA total"]
    assert [r[0] for r in total.iter_rows(values_only=True)] == [
        "Indicateur",
        "Mois",
        "CA total",
        "Produits vendus",
        "Produits en ligne",
        "Vins premium",
        "Vins ordinaires",
        "Référence de l'exécution",
    ]
    totals = workbook_totals(path)
    assert totals["total_revenue"] == pytest.approx(10 * 3 + 20 * 1 + 30 * 2 + 100 * 4)
    assert totals["period"] == "novembre 2026" and totals["run_id"] == "run-1"
    assert "€" in total["B3"].number_format and total.max_column == 2  # no empty column
    detail = wb["CA par produit"]
    assert [c.value for c in detail[1]] == [
        "Produit",
        "SKU web",
        "Vin",
        "Prix",
        "Ventes (unités)",
        "CA",
        "Score z du prix",
        "Premium",
        "Stock",
        "Statut du stock",
    ]
    rows = workbook_detail(path)
    assert [r["revenue"] for r in rows] == sorted((r["revenue"] for r in rows), reverse=True)
    assert {r["sku"]: r["post_title"] for r in rows}["101"] == '\'=HYPERLINK("http://x")'
    assert all(isinstance(r["product_id"], int) and isinstance(r["total_sales"], int) for r in rows)
    assert detail.freeze_panes == "A2" and detail.column_dimensions["C"].width == 60
    assert detail.auto_filter.ref == "A1:J5" and detail.print_title_rows == "$1:$1"
    assert detail.page_setup.orientation == "landscape" and detail.page_setup.fitToWidth == 1
    assert str(detail.page_setup.paperSize) == detail.PAPERSIZE_A4
    assert detail["A2"].number_format == "0"  # an id: 5755, never "5 755"
    assert {r["is_premium"] for r in rows} <= {"oui", "non"}  # yes/no for a reader, filterable
    assert {r["stock_status"] for r in rows} <= set(fr.STOCK_STATUS.values())  # en stock, en rupture
    sold = sum(1 for r in rows if r["total_sales"] > 0)
    assert (totals["sold_count"], totals["merged_rows"]) == (sold, len(rows))
    for ws in (total, detail):  # each printed page says what it is, for which month, and its number
        assert ws.oddHeader.center.text == "BottleNeck · rapport de chiffre d'affaires · novembre 2026"
        assert ws.oddFooter.right.text == "Page &P / &N" and ws.oddFooter.left.text == "&A"


def test_extractions_are_utf8_with_bom_sorted_by_revenue_in_both_dialects(staged, tmp_path):
    con = classify(staged(), "zscore", 1.0)
    prem, ordi = reports.products_csvs(con, {tmp_path / "p.csv": True, tmp_path / "o.csv": False})
    raw = prem.read_bytes()
    assert raw.startswith("\ufeffProduit,SKU web,Vin,Prix,Ventes (unités),CA,".encode())
    assert len(prem.read_text(encoding="utf-8-sig").splitlines()) - 1 == 1
    lines = ordi.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) - 1 == 3 and "Château Un 2015" in lines[2]
    revenues = [float(line.split(",")[5]) for line in lines[1:]]
    assert revenues == sorted(revenues, reverse=True) and lines[1].split(",")[4] == "2"  # sales as integers
    (fr_csv,) = reports.products_csvs(con, {tmp_path / "f.csv": False}, dialect="excel-fr")
    fr_lines = fr_csv.read_text(encoding="utf-8-sig").splitlines()
    assert fr_lines[0].startswith("Produit;SKU web;Vin;Prix;") and fr_lines[1].split(";")[3] == "30,00"
    assert fr_lines[1].split(";")[7] == "non" and fr_lines[1].split(";")[0] == lines[1].split(",")[0]
    for dialect, path in (("standard", ordi), ("excel-fr", fr_csv)):  # both read back alike
        products.read(con, [str(path)], "back", dialect)
        back = con.execute("select product_id, price, total_sales, is_premium from back order by 1").fetchall()
        assert back == [(1, 10.0, 3, False), (2, 20.0, 1, False), (3, 30.0, 2, False)]


def test_past_the_row_limit_the_sheet_keeps_the_top_revenues_and_the_csv_has_every_product(staged, tmp_path):
    con = classify(staged())
    path = reports.revenue_report(con, tmp_path / "r.xlsx", "run-1", max_rows=3)  # a header and 2 products
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["CA total", "CA par produit"]
    everything = con.execute(f"select product_id, round(revenue, 2) from classified order by {reports.ORDER_SQL}")
    everything = [(int(p), r) for p, r in everything.fetchall()]
    assert [(r["product_id"], r["revenue"]) for r in workbook_detail(path)] == everything[:2]
    note = workbook_totals(path)["note"]
    assert note.startswith("4 produits") and "garde les 2 premiers" in note and "revenue_par_produit.csv" in note
    assert workbook_totals(path)["total_revenue"] == pytest.approx(sum(r for _, r in everything))
    (detail,) = reports.products_csvs(con, {tmp_path / "revenue_par_produit.csv": None}, dialect="excel-fr")
    assert detail.read_bytes().startswith("\ufeffProduit;SKU web;Vin;Prix;".encode())
    products.read(con, [str(detail)], "back", "excel-fr")
    assert con.execute("select product_id, revenue from back").fetchall() == everything
    assert "note" not in workbook_totals(reports.revenue_report(con, tmp_path / "s.xlsx", max_rows=5))


def written_reports(staged, tmp_path):
    """The CSVs of a tiny month written into ``tmp_path``, and ``failing()``: the export checks
    that fail on what ``tmp_path`` holds now, {name: failing rows}."""
    from bottleneck_pipeline import checks, paths, reconcile

    con = classify(staged(), "zscore", 1.0)
    reports.products_csvs(
        con,
        {tmp_path / paths.DETAIL_CSV: None, tmp_path / paths.PREMIUM_CSV: True, tmp_path / paths.ORDINARY_CSV: False},
    )
    names = ["total_revenue", "merged_rows"]
    figures = dict(zip(names, con.execute(f"select {', '.join(names)} from run_summary").fetchall()[0]))

    def failing() -> dict:
        reconcile.load_written(con, tmp_path)
        return {r.name: r.observed for r in checks.run_all(con, params=figures, stage="export") if r.status == "fail"}

    return con, failing


def test_reconciliation_reads_the_written_reports_back_and_catches_a_broken_total(staged, tmp_path):
    from bottleneck_pipeline import paths

    con, failing = written_reports(staged, tmp_path)
    reports.revenue_report(con, tmp_path / paths.REVENUE_REPORT, "run-1")
    assert failing() == {}
    wb = openpyxl.load_workbook(tmp_path / paths.REVENUE_REPORT)
    wb["CA total"]["B3"].value += 0.01  # a total one cent off
    wb.save(tmp_path / paths.REVENUE_REPORT)
    assert set(failing()) == {"reconcile_workbook_total"}
    csv = tmp_path / paths.ORDINARY_CSV
    lines = csv.read_text(encoding="utf-8-sig").splitlines()
    csv.write_text("\ufeff" + "\n".join(lines[:-1]) + "\n", encoding="utf-8")  # a product lost from a CSV
    assert {"reconcile_extractions_cover_products", "reconcile_extractions_revenue"} <= set(failing())


def test_reconciliation_ties_a_shortened_sheet_to_the_detail_csv(staged, tmp_path):
    from bottleneck_pipeline import paths

    con, failing = written_reports(staged, tmp_path)
    book = tmp_path / paths.REVENUE_REPORT
    reports.revenue_report(con, book, "run-1", max_rows=3)  # the top 2 of 4, with the note
    assert failing() == {}
    wb = openpyxl.load_workbook(book)
    wb["CA total"].delete_rows(wb["CA total"].max_row)  # the note row gone
    wb.save(book)
    assert failing() == {"reconcile_workbook_sheet": 1}
    reports.revenue_report(con, book, "run-1", max_rows=3)
    wb = openpyxl.load_workbook(book)
    wb["CA par produit"].delete_rows(2)  # the largest revenue left out of the sheet
    wb["CA par produit"]["F2"].value += 1  # and the next one changed
    wb.save(book)
    assert failing() == {"reconcile_workbook_sheet": 2}


# --- every header whole, every text cell neutralised (#23) --------------------------------------

# The columns of the product reports (the workbook's detail sheet, the three CSVs), as readers and
# the manifest's `columns` rely on them: machine names, shown under their French labels (fr.py).
PRODUCT_REPORT = [
    "product_id",
    "sku",
    "post_title",
    "price",
    "total_sales",
    "revenue",
    "z_score",
    "is_premium",
    "stock_quantity",
    "stock_status",
]
TEXT_COLUMNS = ["sku", "post_title", "stock_status"]  # the product reports' text columns
# the summary: each check by its French title, what was found, what must hold, its id last (for the analyst)
TEST_REPORT_SHEETS = {"contrôles": ["title", "severity", "status", "observed", "finding", "lecture", "check_id"]}
TEST_REPORT_SHEETS["nettoyage"] = ["source", "action", "row_count"]


def hostile_month(staged):
    """A month whose every text cell would be a formula in a spreadsheet: SKUs, titles, stock
    statuses, and the text behind two warnings (a web product without SKU, a negative stock)."""
    from tests.conftest import erp_frame, liaison_frame, web_frame

    triggers = ["=1+1", "+1+1", "-1+2", "@SUM(A1)"]
    skus = [f"{t}sku{i}" for i, t in enumerate(triggers)]
    erp = erp_frame(
        [(i + 1, 1, price, -1 if i == 0 else 3, triggers[i]) for i, price in enumerate([10.0, 20, 30, 100])]
    )
    web = web_frame(
        [
            (sku, f'{t}HYPERLINK("http://x", "{i}")', 2.0 + i, "product")
            for i, (sku, t) in enumerate(zip(skus, triggers))
        ]
        + [(None, '=cmd|" /C calc"!A0', 3.0, "product")]
    )
    links = liaison_frame([(i + 1, sku) for i, sku in enumerate(skus)])
    return classify(staged(fmt="csv", erp=erp, web=web, liaison=links), "zscore", 1.0)


def written(con, tmp_path):
    """Every report of the month, both CSV dialects: {name: (header, rows as text)}."""
    import csv

    from bottleneck_pipeline import checks, choices, paths

    found = {}
    for dialect in choices.CSV_DIALECTS:
        names = {paths.DETAIL_CSV: None, paths.PREMIUM_CSV: True, paths.ORDINARY_CSV: False}
        folder = tmp_path / dialect
        reports.products_csvs(con, {folder / n: p for n, p in names.items()}, dialect=dialect)
        for name in names:
            with open(folder / name, encoding="utf-8-sig", newline="") as f:
                header, *rows = list(csv.reader(f, delimiter=";" if dialect == "excel-fr" else ","))
            found[f"{dialect}/{name}"] = (header, rows)
    results = checks.run_all(con, params={"drift_threshold": 0.2}) + checks.run_all(con, stage="marts")
    for path in (
        reports.revenue_report(con, tmp_path / paths.REVENUE_REPORT, "run-1"),
        reports.test_report(con, results, tmp_path / paths.TEST_REPORT),
    ):
        for ws in openpyxl.load_workbook(path).worksheets:
            header, *rows = [list(r) for r in ws.iter_rows(values_only=True)]
            found[f"{path.name}/{ws.title}"] = (header, rows)
    return found, {r.name: r for r in results}


def test_every_report_has_its_whole_header(staged, tmp_path):
    found, results = written(hostile_month(staged), tmp_path)
    by_title = {r.title: r for r in results.values()}  # a failing check's rows: a sheet named by its title
    assert list(products.columns().values()) == PRODUCT_REPORT  # the manifest's `columns`
    product_header = [fr.label(c) for c in PRODUCT_REPORT]
    for name, (header, _) in found.items():
        sheet = name.rsplit("/", 1)[-1]
        if name.endswith(".csv") or sheet == "CA par produit":
            assert header == product_header, name
        elif sheet == "CA total":
            assert header == ["Indicateur", "Valeur"]
        elif sheet in TEST_REPORT_SHEETS:
            assert header == [fr.label(c) for c in TEST_REPORT_SHEETS[sheet]], name
        else:  # a failing check's rows: its query's columns
            assert header == [fr.label(c) for c in by_title[sheet].sample[0]], name
    sheets = {n.rsplit("/", 1)[-1] for n in found}
    warned = {results["web_product_without_sku"].title, results["erp_negative_stock"].title}
    assert {"CA total", "CA par produit", *warned} <= sheets


def test_formula_like_text_is_neutralised_in_every_text_column_of_every_report(staged, tmp_path):
    """The rule of cells.py, applied by the writers to every text cell: a cell a spreadsheet would
    run starts with ', everywhere; every text column of every product report holds such a cell."""
    import re

    from bottleneck_pipeline import cells

    found, results = written(hostile_month(staged), tmp_path)
    formula, number = re.compile(cells.FORMULA_START), re.compile(cells.PLAIN_NUMBER)  # a number is no formula
    text_headers = {fr.label(c) for c in TEXT_COLUMNS}
    neutralised = {}
    for name, (header, rows) in found.items():
        for row in rows:
            for column, value in zip(header, row):
                if isinstance(value, str) and formula.match(value.lstrip("'")) and not number.match(value):
                    assert value.startswith("'"), (name, column, value)
                    neutralised.setdefault(name, set()).add(column)
    for name, (_, rows) in found.items():
        if rows and (name.endswith(".csv") or name.endswith("/CA par produit")):
            assert neutralised.get(name, set()) >= text_headers, (name, neutralised.get(name))
    warned = {results["web_product_without_sku"].title, results["erp_negative_stock"].title}
    assert warned <= {n.rsplit("/", 1)[-1] for n in neutralised}


def test_the_test_report_reads_in_french_and_colours_only_the_status(staged, tmp_path):
    """The summary names each check by its French title (its id kept in a last column that is
    not printed), colours the status cell only (a passing blocking check is green, never pink),
    and each check that did not pass gets a sheet named by its title, its rows under French
    headers; every sheet's printed pages carry the month and their number."""
    from bottleneck_pipeline import checks, workbook

    erp = erp_frame()
    erp.loc[len(erp)] = (1, 1, 12.0, 5, "instock")  # product 1 again, another price
    con = staged(erp=erp)
    results = checks.run_all(con, params={"drift_threshold": 0.2})
    path = reports.test_report(con, results, tmp_path / "rapport_test.xlsx", period="2026-11")
    wb = openpyxl.load_workbook(path)
    failing = [r for r in results if r.sample]
    assert wb.sheetnames == ["contrôles", "nettoyage", *(r.title for r in failing)]
    summary = wb["contrôles"]
    header = [c.value for c in summary[1]]
    assert header[0] == "Contrôle" and header[-1] == "Identifiant"
    assert summary.print_area == f"'contrôles'!$A$1:${chr(ord('A') + len(header) - 2)}${len(results) + 1}"
    status_col = header.index("Statut")
    for row, r in zip(summary.iter_rows(min_row=2), results):
        assert row[0].value == r.title and row[-1].value == r.name
        colours = {c.column - 1: c.fill.fgColor.rgb for c in row if c.fill.fill_type == "solid"}
        expected = workbook.STATUS_FILL[fr.STATUS[r.status]].fgColor.rgb
        assert colours == {status_col: expected}, (r.name, colours)  # the severity cell is never coloured
    duplicate = wb[next(r.title for r in failing if r.name == "erp_product_id_unique")]
    assert [c.value for c in duplicate[1]][:3] == ["Produit", "Occurrences", fr.label("onsale_web")]
    assert {row[-1] for row in duplicate.iter_rows(min_row=2, values_only=True)} == {fr.STOCK_STATUS["instock"]}
    for ws in wb.worksheets:
        assert ws.oddHeader.center.text == "BottleNeck · contrôles de qualité des données · novembre 2026"
        assert ws.oddFooter.right.text == "Page &P / &N"
