import pytest

from bottleneck_pipeline import checks, fr, paths
from bottleneck_pipeline.errors import CheckFailed
from tests.conftest import erp_frame, liaison_frame, web_frame

PARAMS = {"drift_threshold": 0.2}  # what 02_cleaning_tests binds into the checks


def results_by_name(con):
    return {r.name: r for r in checks.run_all(con, params=PARAMS)}


def test_every_check_file_declares_a_severity_and_description():
    found = checks.discover()
    assert len(found) >= 10
    assert all(c.severity in checks.SEVERITIES and c.description for c in found)
    assert [c.severity for c in found] == sorted((c.severity for c in found), key=checks.SEVERITIES.index)


def test_clean_tiny_sources_pass_every_blocking_check(staged):
    res = results_by_name(staged())
    assert all(r.status == "pass" for r in res.values() if r.severity == "blocking")
    checks.raise_on_blocking(list(res.values()))  # does not raise


def test_conflicting_erp_rows_fail_the_blocking_uniqueness_check(staged):
    erp = erp_frame()
    erp.loc[len(erp)] = (1, 1, 12.0, 5, "instock")  # product 1 again, another price
    res = checks.run_all(staged(erp=erp), params=PARAMS)
    failed = [r for r in res if r.status == "fail"]
    # the repeat also links web product 101 to two ERP rows
    assert [r.name for r in failed] == ["erp_product_id_unique", "web_product_matched_once"]
    # one duplicated id; its evidence is both conflicting rows, and what differs between them is said
    assert failed[0].observed == 1 and [(r["product_id"], r["price"]) for r in failed[0].sample] == [
        ("1", 10.0),
        ("1", 12.0),
    ]
    assert failed[0].finding == f"produit 1 sur 2 lignes (prix {fr.money(10.0)} ou {fr.money(12.0)})"
    assert failed[1].sample[0]["erp_products"] == "1, 1"  # the web product names the ERP product it met twice
    (shared,) = checks.shared_causes(res)  # the two failures share their cause, and the reader is told
    assert "« Produits ERP en double » et « Produits web mal rapprochés »" in shared and "produit 1" in shared
    with pytest.raises(CheckFailed) as err:
        checks.raise_on_blocking(res, files={"erp": "erp.xlsx", "web": "web.xlsx"})
    assert str(err.value).startswith(
        "blocking data-quality check(s) failed: erp.xlsx: erp_product_id_unique (1 row; expected: each ERP "
        "product_id appears once after cleaning (a repeat has conflicting values); e.g. product_id '1', "
        "occurrences 2, onsale_web 1, price 10.0); web.xlsx: web_product_matched_once (1 row; expected: "
    )


def test_warnings_show_the_anomalies_an_analyst_must_see(staged):
    erp = erp_frame(
        [
            (1, 1, -5.0, -2, "instock"),
            (2, 1, 0.0, 3, "outofstock"),
            (3, 1, 30.0, 2, "instock"),
            (4, 1, 100.0, 1, "instock"),
            (5, 1, 9.0, 1, "instock"),
        ]
    )
    web = web_frame()
    web.loc[len(web)] = (None, "Sans SKU", 7.0, "product")
    liaison = liaison_frame([(1, "101"), (2, "102"), (3, "bon-cadeau-25-euros"), (4, "104"), (5, None), (6, "999")])
    res = results_by_name(staged(erp=erp, web=web, liaison=liaison))
    observed = {n: (r.status, r.observed) for n, r in res.items() if r.status != "pass"}
    assert observed == {
        "erp_price_not_positive": ("warning", 2),
        "erp_negative_stock": ("warning", 1),
        "erp_stock_status_mismatch": ("warning", 2),
        "web_product_without_sku": ("warning", 1),
        "liaison_without_web_id": ("warning", 1),
        "liaison_web_id_unmatched": ("warning", 1),
        "price_drift_vs_previous_run": ("not_applicable", 0),  # no previous month: nothing to compare
    }
    assert res["web_product_without_sku"].detail == "ventes hors chiffre d'affaires : 7 unités"


def test_web_product_without_a_link_breaks_join_coherence(staged):
    res = results_by_name(staged(liaison=liaison_frame([(1, "101"), (2, "102"), (4, "104")])))
    r = res["web_product_matched_once"]
    assert (r.status, r.observed) == ("fail", 1)
    assert r.sample[0]["sku"] == "bon-cadeau-25-euros" and r.sample[0]["erp_matches"] == 0


def test_web_export_without_products_and_empty_join_are_blocking(staged):
    web = web_frame()
    web["post_type"] = web["post_type"].replace({"product": "attachment"})
    res = results_by_name(staged(web=web))
    assert res["web_has_products"].status == "fail" and res["web_has_products"].source == "web"
    res = results_by_name(staged(liaison=liaison_frame([(1, "x1"), (2, "x2"), (3, "x3"), (4, "x4")])))
    assert res["join_not_empty"].status == "fail" and res["join_not_empty"].source == "liaison"


def test_generic_tests_are_declared_in_schema_yml_and_generated():
    found = {c.name: c for c in checks.discover()}
    assert {
        "erp_product_id_unique",
        "web_sku_unique",
        "liaison_product_id_unique",
        "liaison_id_web_unique",
        "erp_price_not_null",
        "web_total_sales_not_null",
        "merged_product_id_unique",
        "merged_sku_unique",
    } <= set(found)
    assert found["erp_product_id_unique"].source == "erp" and found["erp_product_id_unique"].stage == "staging"
    assert found["merged_product_id_unique"].stage == "marts" and found["merged_product_id_unique"].guard
    assert not [p for p in checks.CHECKS_DIR.glob("*_unique.sql")]  # generic tests are declared, not written


def test_each_generic_kind_returns_the_failing_rows(tmp_path):
    """The four kinds schema.yml may declare, on a table that fails each once."""
    import duckdb

    schema = tmp_path / "schema.yml"
    schema.write_text(  # each with its French title and rule, which a reader reads
        "t:\n  source: erp\n  columns:\n    k:\n"
        "      - unique: {title: K en double, lecture: chaque k une fois}\n"
        "      - not_null: {title: K manquant, lecture: chaque ligne a son k}\n"
        "      - relationships: {to: p.k, title: K inconnu, lecture: chaque k existe dans p}\n"
        "    flag:\n"
        "      - accepted_values: {values: [a, b], severity: warning, title: Drapeau inattendu, lecture: a ou b}\n"
    )
    con = duckdb.connect()
    con.execute("create table p as select * from (values ('1'), ('2')) v(k)")
    con.execute("create table t as select * from (values ('1', 'a'), ('1', 'b'), (null, 'a'), ('3', 'c')) v(k, flag)")
    found = {c.name: checks.run_check(con, c) for c in checks.generic(schema)}
    assert {n: (r.severity, r.status, r.observed) for n, r in found.items()} == {
        "erp_k_unique": ("blocking", "fail", 1),
        "erp_k_not_null": ("blocking", "fail", 1),
        "erp_k_relationships": ("blocking", "fail", 1),
        "erp_flag_accepted_values": ("warning", "warning", 1),
    }
    assert found["erp_k_relationships"].sample == [{"k": "3"}]
    assert [r.title for r in found.values()] == ["K en double", "K manquant", "K inconnu", "Drapeau inattendu"]


# --- guards: blocking checks no data can fail, each broken here the way a bug in its code would ---


def _lose_a_staged_row(staged, tmp_path):
    con = staged()
    con.execute("delete from stg_erp where product_id = '3'")  # a staging filter that drops a row, unlogged
    return checks.run_all(con, params=PARAMS)


def _repeat_a_merged_product(staged, tmp_path):
    from tests.bottleneck_pipeline.conftest import classify

    con = classify(staged())
    con.execute("insert into merged select * replace ('999' as sku) from merged where product_id = '1'")
    return checks.run_all(con, stage="marts")


def _repeat_a_merged_sku(staged, tmp_path):
    from tests.bottleneck_pipeline.conftest import classify

    con = classify(staged())
    con.execute("insert into merged select * replace ('999' as product_id) from merged where sku = '101'")
    return checks.run_all(con, stage="marts")


def _written(staged, tmp_path, tamper):
    """The reports of a tiny month written into ``tmp_path``, then ``tamper(folder)``: the
    export checks on what was written."""
    from tests.bottleneck_pipeline.test_reports import written_reports

    con, failing = written_reports(staged, tmp_path)
    from bottleneck_pipeline import paths, reconcile, reports

    reports.revenue_report(con, tmp_path / paths.REVENUE_REPORT, "run-1")
    tamper(tmp_path)
    names = ["total_revenue", "merged_rows"]
    figures = dict(zip(names, con.execute(f"select {', '.join(names)} from run_summary").fetchall()[0]))
    reconcile.load_written(con, tmp_path)
    return checks.run_all(con, params=figures, stage="export")


def _drop_last_line(path):
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    path.write_text("\ufeff" + "\n".join(lines[:-1]) + "\n", encoding="utf-8")


def _edit_cell(path, sheet, cell, delta):
    import openpyxl

    wb = openpyxl.load_workbook(path)
    wb[sheet][cell].value += delta
    wb.save(path)


def _cut_a_product(folder):
    from bottleneck_pipeline import paths

    _drop_last_line(folder / paths.ORDINARY_CSV)


def _shift_a_revenue(folder):
    from bottleneck_pipeline import paths

    csv = folder / paths.ORDINARY_CSV
    header, *rows = csv.read_text(encoding="utf-8-sig").splitlines()
    for i, cent in ((0, 0.01), (1, -0.01)):  # two rows' revenues a cent off, the total as it was
        cells = rows[i].split(",")
        cells[5] = f"{float(cells[5]) + cent:.2f}"
        rows[i] = ",".join(cells)
    csv.write_text("\ufeff" + "\n".join([header, *rows]) + "\n", encoding="utf-8")


GUARD_BREAKS = {  # guard -> how a bug in the code it guards would break what it reads
    "cleaning_accounts_for_every_row": _lose_a_staged_row,
    "merged_product_id_unique": _repeat_a_merged_product,
    "merged_sku_unique": _repeat_a_merged_sku,
    "reconcile_extractions_cover_products": lambda s, t: _written(s, t, _cut_a_product),
    "reconcile_extractions_revenue": lambda s, t: _written(s, t, _shift_a_revenue),
    "reconcile_workbook_sheet": lambda s, t: _written(
        s, t, lambda f: _edit_cell(f / "rapport_CA.xlsx", "CA par produit", "F2", 1)
    ),
    "reconcile_workbook_total": lambda s, t: _written(
        s, t, lambda f: _edit_cell(f / "rapport_CA.xlsx", "CA total", "B3", 0.01)
    ),
}


@pytest.mark.parametrize("guard", sorted(c.name for c in checks.discover() if c.guard))
def test_a_guard_fails_when_its_code_breaks(guard, staged, tmp_path):
    """Each guard (a blocking check no data can fail: see schema.yml) fails, as a blocking check,
    on what a bug in the code it guards would give it; test_bad_inputs' meta-test holds every
    guard to one entry here."""
    results = {r.name: r for r in GUARD_BREAKS[guard](staged, tmp_path)}
    assert (results[guard].severity, results[guard].status) == ("blocking", "fail"), results[guard]


def test_mart_tests_catch_a_merge_that_counts_a_product_twice(staged):
    from tests.bottleneck_pipeline.conftest import classify

    con = classify(staged())
    assert all(r.status == "pass" for r in checks.run_all(con, stage="marts"))
    con.execute("insert into merged select * from merged limit 1")  # a merge bug: one product twice
    con.execute("insert into classified select * from classified where sku = '101'")
    failed = {r.name for r in checks.run_all(con, stage="marts") if r.status == "fail"}
    assert {"merged_product_id_unique", "merged_sku_unique"} <= failed


def test_results_of_both_steps_are_kept_together(staged):
    from tests.bottleneck_pipeline.conftest import classify

    con = classify(staged())
    staging = checks.save(con, checks.run_all(con, params=PARAMS))
    both = checks.save(con, checks.run_all(con, stage="marts"))
    assert [r.name for r in both[: len(staging)]] == [r.name for r in staging]
    assert {r.stage for r in both} == {"staging", "marts"}
    again = checks.save(con, checks.run_all(con, params=PARAMS))  # 02 re-run: 03's results are out of date
    assert [r.name for r in again] == [r.name for r in staging]


def test_every_check_has_a_french_title_and_lecture_without_machine_names():
    """Readers read a check's title and lecture, never its id, a table or a column name."""
    import re

    found = checks.discover()
    titles = [c.title for c in found]
    assert len(set(t.lower() for t in titles)) == len(titles)  # one sheet each in the test report
    machine = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b|\b(stg|merged|classified|raw)\b|[a-z]\.[a-z]")
    for c in found:
        assert c.title and len(c.title) <= checks.TITLE_MAX, c.name
        lecture = c.lecture
        for name in paths.REPORTS:  # the files a reader opens are named as they are
            lecture = lecture.replace(name, "")
        assert not machine.search(c.title) and not machine.search(lecture), (c.name, c.title, c.lecture)


def test_a_check_without_a_title_is_refused(tmp_path):
    (tmp_path / "no_title.sql").write_text("-- severity: warning\n-- lecture: x\nselect 1 where false\n")
    (tmp_path / "schema.yml").write_text("")
    with pytest.raises(ValueError, match="no_title.sql: a check needs a French title"):
        checks.discover(tmp_path)
