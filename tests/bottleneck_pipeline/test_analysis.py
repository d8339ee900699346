import statistics

import pytest

from bottleneck_pipeline import analysis
from bottleneck_pipeline.errors import PipelineError
from tests.bottleneck_pipeline.conftest import classify
from tests.conftest import liaison_frame

# prices 10, 20, 30, 100 with sales 3, 1, 2, 4 (see tests/conftest.py)
PRICES = [10.0, 20.0, 30.0, 100.0]
SALES = [3.0, 1.0, 2.0, 4.0]


def test_revenue_and_figures(staged):
    con = classify(staged())
    f = analysis.figures(con)
    assert f["merged_rows"] == 4
    assert f["total_revenue"] == pytest.approx(sum(p * s for p, s in zip(PRICES, SALES)))
    assert f["premium_count"] + f["ordinary_count"] == 4


def test_zscore_uses_the_sample_standard_deviation(staged):
    mean, sd = statistics.mean(PRICES), statistics.stdev(PRICES)
    threshold = (100.0 - mean) / sd - 0.01  # just below the top wine's z-score
    con = classify(staged(), "zscore", threshold)
    rows = con.execute("select price, z_score, is_premium from classified order by price").fetchall()
    assert [round(z, 6) for _, z, _ in rows] == [round((p - mean) / sd, 6) for p in PRICES]
    assert [p for p, _, premium in rows if premium] == [100.0]
    con = classify(con, "zscore", threshold + 0.02)
    assert analysis.figures(con)["premium_count"] == 0


def test_iqr_method(staged):
    q1, q3 = 17.5, 47.5  # linear interpolation quartiles of PRICES
    con = classify(staged(), "iqr", 1.5)
    cutoff = con.execute("select price_cutoff from premium_rule").fetchall()[0][0]
    assert cutoff == pytest.approx(q3 + 1.5 * (q3 - q1))
    assert analysis.figures(con)["premium_count"] == sum(p > cutoff for p in PRICES)


def test_nothing_left_after_the_join_is_an_error(staged):
    con = staged(liaison=liaison_frame([(1, "nope")]))
    classify(con)
    with pytest.raises(PipelineError, match="merged is empty"):
        analysis.require_rows(con, "merged", "no web product matched")
