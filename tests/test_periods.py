"""The month as a first-class idea: periods, inputs by month, publishing by month, backfills."""

import json

import pytest

from bottleneck_pipeline import periods, verify
from bottleneck_pipeline.errors import ParamError
from tests.conftest import SAMPLE_DIR, keys, run_pipeline, upload_dir
from tests.test_pipeline_s3 import fixed_keys


def test_the_default_period_is_the_month_before_in_paris():
    from datetime import datetime

    assert periods.default(datetime(2026, 12, 15, 9, tzinfo=periods.PARIS)) == "2026-11"
    assert periods.default(datetime(2026, 1, 15, 9, tzinfo=periods.PARIS)) == "2025-12"
    assert (
        periods.default(datetime.fromisoformat("2026-11-30T23:30:00+00:00")) == "2026-11"
    )  # already December in Paris
    assert periods.previous("2026-01") == "2025-12" and periods.label("2026-11") == "novembre 2026"
    assert periods.fill("s3://b/exports/{year}/{month}/", "2026-11") == "s3://b/exports/2026/11/"


@pytest.mark.parametrize(
    "setting, message",
    [
        ("period=2026-13", "error: parameter period: expected a month as YYYY-MM (e.g. 2026-11), got '2026-13'"),
        ("period=11/2026", "error: parameter period: expected a month as YYYY-MM (e.g. 2026-11), got '11/2026'"),
        ("period=2026-1", "error: parameter period: expected a month as YYYY-MM (e.g. 2026-11), got '2026-1'"),
        ("input_dir=exports/{day}/", "error: parameter input_dir: unknown placeholder {day} in 'exports/{day}/'"),
        ("erp_file=erp-{period.xlsx", "error: parameter erp_file: "),
        (
            "previous_run=auto",
            "error: parameter previous_run auto: it is the previous month published under publish_to",
        ),
    ],
)
def test_a_bad_period_or_placeholder_exits_2_before_any_work(tmp_path, setting, message):
    proc = run_pipeline("--set", setting, "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def month_run(env, bucket, tmp_path, period, name, *extra):
    run_dir = tmp_path / name
    proc = run_pipeline(
        "--set",
        f"period={period}",
        "--set",
        f"input_dir=s3://{bucket}/in/{{year}}/{{month}}/",
        "--set",
        f"publish_to=s3://{bucket}/BottleNeck/",
        "--run-dir",
        str(run_dir),
        *extra,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads((run_dir / "manifest.json").read_text())


def held(client, bucket, key):
    return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())["run_id"]


@pytest.mark.slow
def test_a_backfill_publishes_its_month_and_leaves_the_latest_month_alone(bucket, s3_env, tmp_path):
    name, client = bucket
    for month in ("10", "11"):
        upload_dir(client, name, SAMPLE_DIR, f"in/2026/{month}/")
    _, november = month_run(s3_env, name, tmp_path, "2026-11", "nov")
    assert november["period"] == "2026-11"
    assert november["inputs"][0]["uri"] == f"s3://{name}/in/2026/11/erp.xlsx"  # placeholders resolved
    proc, october = month_run(s3_env, name, tmp_path, "2026-10", "oct", "--set", "previous_run=auto")
    assert "the fixed keys hold a later run (2026-11" in proc.stdout and "left alone" in proc.stdout
    assert (
        october["comparison"]["status"] == f"previous run not found at s3://{name}/BottleNeck/2026-09/manifest.json"
    )  # the first month: said, not fatal
    assert held(client, name, "BottleNeck/manifest.json") == november["run_id"]
    assert held(client, name, "BottleNeck/2026-10/manifest.json") == october["run_id"]
    assert held(client, name, "BottleNeck/2026-11/manifest.json") == november["run_id"]
    assert len(keys(client, name, "BottleNeck/2026-10/")) == len(fixed_keys(client, name))
    assert verify.verify_s3(f"s3://{name}/BottleNeck/2026-10/")[1] == []  # what `run_pipeline.py verify` checks

    _, again = month_run(s3_env, name, tmp_path, "2026-11", "nov2", "--set", "previous_run=auto")
    assert held(client, name, "BottleNeck/manifest.json") == again["run_id"]  # a later run of the month refreshes both
    assert held(client, name, "BottleNeck/2026-11/manifest.json") == again["run_id"]
    assert again["comparison"]["status"] == "compared" and again["comparison"]["run_id"] == october["run_id"]
    for target in ("BottleNeck/", "BottleNeck/2026-11/", "BottleNeck/2026-10/"):
        assert verify.verify_s3(f"s3://{name}/{target}")[1] == []
    page = client.get_object(Bucket=name, Key="BottleNeck/index.html")["Body"].read().decode()
    assert "novembre 2026" in page


def test_the_month_appears_where_a_reader_looks(sample_run):
    m = json.loads((sample_run / "manifest.json").read_text())
    label = periods.label(m["period"])
    assert periods.PERIOD.fullmatch(m["period"]) and m["params"]["period"] == m["period"]
    assert f"<title>BottleNeck · {label}" in (sample_run / "index.html").read_text(encoding="utf-8")
    for step in ("01_ingestion", "04_export"):
        assert f"Mois : {label}" in (sample_run / f"{step}.html").read_text(encoding="utf-8")
    from tests.conftest import workbook_totals

    assert workbook_totals(sample_run / "rapport_CA.xlsx")["period"] == label


def test_placeholders_are_checked_for_any_month():
    from bottleneck_pipeline import params

    with pytest.raises(ParamError, match="expected a file name inside input_dir"):
        params.load(None, ["erp_file={year}/erp.xlsx"])  # a folder sneaking in through a placeholder


def test_a_month_is_refused_until_it_has_begun_in_paris():
    """The clock is a parameter (``now``), so the boundary is tested without faking time; the
    CLI test in test_bad_inputs asks the real clock for a month two months ahead."""
    from datetime import datetime

    last_evening = datetime.fromisoformat("2026-11-30T22:30:00+00:00")  # 23:30 in Paris: still November
    first_night = datetime.fromisoformat("2026-11-30T23:30:00+00:00")  # 00:30 in Paris: December has begun
    assert periods.current(last_evening) == "2026-11" and periods.current(first_night) == "2026-12"
    periods.check("2026-11", now=last_evening)  # the current month may run (a preview)
    periods.check("2026-12", now=first_night)
    with pytest.raises(ParamError, match=r"^parameter period: 2026-12 has not begun \(the current month in Paris"):
        periods.check("2026-12", now=last_evening)
    with pytest.raises(ParamError, match="9999-12 has not begun"):
        periods.resolve("9999-12")
    assert periods.following("2026-12") == "2027-01" and periods.following("2026-01") == "2026-02"
