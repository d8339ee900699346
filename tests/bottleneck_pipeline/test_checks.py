import pytest

from bottleneck_pipeline import checks
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
    assert failed[0].observed == 1 and failed[0].sample == [{"product_id": "1", "occurrences": 2}]
    with pytest.raises(CheckFailed) as err:
        checks.raise_on_blocking(res, files={"erp": "erp.xlsx", "web": "web.xlsx"})
    assert str(err.value).startswith(
        "blocking data-quality check(s) failed: erp.xlsx: erp_product_id_unique (1 row; expected: each ERP "
        "product_id appears once after cleaning (a repeat has conflicting values); e.g. product_id '1', "
        "occurrences 2); web.xlsx: web_product_matched_once (1 row; expected: "
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
    assert res["web_product_without_sku"].detail == "ventes hors CA : 7 unités"


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
        "merged_sku_relationships",
        "classified_is_premium_accepted_values",
    } <= set(found)
    assert found["erp_product_id_unique"].source == "erp" and found["erp_product_id_unique"].stage == "staging"
    assert found["merged_product_id_unique"].stage == "marts"
    assert not [p for p in checks.CHECKS_DIR.glob("*_unique.sql")]  # generic tests are declared, not written


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
