import pytest

from bottleneck_pipeline import params
from bottleneck_pipeline.errors import ParamError


def test_default_file_loads_with_types():
    p = params.load("params/default.yaml")
    assert p["premium_threshold"] == 2.0 and isinstance(p["premium_threshold"], float)
    assert p["input_dir"] == "data/sample"


def test_overrides_are_typed_from_yaml():
    p = params.load("params/default.yaml", ["premium_threshold=3", "premium_method=iqr", "top_n=5"])
    assert (p["premium_threshold"], p["premium_method"], p["top_n"]) == (3.0, "iqr", 5)


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "colour=red",
            "unknown parameter 'colour' (--set); known parameters: csv_dialect, drift_threshold, erp_file, ",
        ),
        ("premium_threshold=abc", "parameter premium_threshold: expected float, got 'abc'"),
        ("premium_threshold=-1", "parameter premium_threshold: must be >= 0.0, got -1.0"),
        ("premium_method=median", "parameter premium_method: must be one of zscore, iqr, got 'median'"),
        ("top_n=2.5", "parameter top_n: expected int, got '2.5'"),
        ("run_dir=/tmp/x", "parameter run_dir (--set): set it with --run-dir"),
        ("premium_threshold", "--set 'premium_threshold': expected KEY=VALUE"),
        ("publish_to=https://bucket/BottleNeck/", "parameter publish_to 'https://bucket/BottleNeck/': expected s3://"),
        (
            "publish_to=s3://bucket/BottleNeck/../other/",
            "parameter publish_to 's3://bucket/BottleNeck/../other/': '..'",
        ),
        ("input_dir=s3://", "parameter input_dir 's3://': expected s3://bucket/prefix/"),
        ("premium_threshold=.nan", "parameter premium_threshold: expected float, got '.nan'"),
        ("premium_threshold=1_5", "parameter premium_threshold: expected float, got '1_5'"),
        ("premium_threshold=٢", "parameter premium_threshold: expected float, got '٢'"),
        ("input_dir=" + "x" * 5000, "parameter input_dir: longer than 1024 characters (5000)"),
        ("erp_file=" + "é" * 200 + ".xlsx", "parameter erp_file: a file name longer than 255 bytes"),
        (
            "publish_to=s3://b/BottleNeck/runs/20261115T090000Z-3fa2/",
            "parameter publish_to 's3://b/BottleNeck/runs/20261115T090000Z-3fa2/': inside a run's archive",
        ),
        ("premium_threshold=nan", "parameter premium_threshold: must be a finite number, got nan"),
        ("premium_threshold=inf", "parameter premium_threshold: must be a finite number, got inf"),
        ("drift_threshold=-inf", "parameter drift_threshold: must be a finite number, got -inf"),
        ("top_n=1000000000", "parameter top_n: must be <= 100, got 1000000000"),
        ("top_n=0", "parameter top_n: must be >= 1, got 0"),
        ("html_hide_code=maybe", "parameter html_hide_code: expected bool, got 'maybe'"),
        ("input_dir=exports\n2026", "parameter input_dir: control characters (newline, tab, NUL …) are not allowed"),
        ("erp_file=/etc/passwd", "parameter erp_file: expected a file name inside input_dir"),
        ("web_file=../../web.xlsx", "parameter web_file: expected a file name inside input_dir"),
        ("liaison_file=sub/liaison.xlsx", "parameter liaison_file: expected a file name inside input_dir"),
        ("liaison_file=..", "parameter liaison_file: expected a file name inside input_dir"),
        ("erp_file=a\\b.xlsx", "parameter erp_file: expected a file name inside input_dir"),
        ("input_dir=s3://AKIAKEY:SECRETVALUE@bucket/in/", "parameter input_dir: expected s3://bucket/prefix/ with no"),
        (
            "previous_run=https://b.s3.amazonaws.com/m.json?X-Amz-Signature=SIGVALUE",
            "parameter previous_run: unsupported location scheme 'https' in 'https://b.s3.amazonaws.com/m.json?***'",
        ),
        (
            "previous_run=s3://b/BottleNeck/manifest.json?X-Amz-Credential=SIGVALUE",
            "parameter previous_run: expected s3://bucket/prefix/ with no user, query or fragment",
        ),
    ],
)
def test_bad_parameters_are_refused_with_one_line(override, message):
    with pytest.raises(ParamError) as err:
        params.load("params/default.yaml", [override])
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_no_refusal_shows_a_credential():
    for hostile in (
        "input_dir=s3://AKIAKEY:SECRETVALUE@bucket/in/",
        "input_dir=https://u:SECRETVALUE@host/x",
        "previous_run=https://h/m.json?X-Amz-Signature=SECRETVALUE",
        "input_dir=ftp://u:SECRETVALUE@host/",
    ):
        with pytest.raises(ParamError) as err:
            params.load("params/default.yaml", [hostile])
        assert "SECRETVALUE" not in str(err.value)


def test_values_are_read_by_the_declared_type_not_by_yaml(tmp_path):
    p = params.load(
        "params/default.yaml",
        ["input_dir=010", "erp_file=2026-11-15.xlsx", "premium_threshold=2", "top_n=+7", "html_hide_code=Yes"],
    )
    assert p["input_dir"] == "010" and p["erp_file"] == "2026-11-15.xlsx"
    assert p["premium_threshold"] == 2.0 and p["top_n"] == 7 and p["html_hide_code"] is True
    assert params.load(None, ["input_dir=2026-11-15"])["input_dir"] == "2026-11-15"  # not a date
    assert params.load(None, ["previous_run="])["previous_run"] == ""
    f = tmp_path / "p.yaml"
    f.write_text(
        "input_dir: 010\nerp_file: 2026-11-15\npremium_threshold: 1e1\nhtml_hide_code: true\nprevious_run: ''\n"
    )
    p = params.load(str(f))
    assert (p["input_dir"], p["erp_file"], p["premium_threshold"], p["html_hide_code"], p["previous_run"]) == (
        "010",
        "2026-11-15",
        10.0,
        True,
        "",
    )
    f.write_text("previous_run:\n")
    with pytest.raises(ParamError, match="parameter previous_run: expected str, got null"):
        params.load(str(f))
    f.write_text("premium_threshold: .nan\n")
    with pytest.raises(ParamError, match="premium_threshold: expected float, got '.nan'"):
        params.load(str(f))


def test_params_file_problems(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ParamError, match="expected a mapping"):
        params.load(str(bad))
    with pytest.raises(ParamError, match="params file nope.yaml: not found"):
        params.load("nope.yaml")
    bad.write_text("premium_threshold: true\n")
    with pytest.raises(ParamError, match="expected float, got 'true'"):
        params.load(str(bad))


def test_publish_to_is_a_run_parameter_not_a_notebook_one():
    p = params.load("params/default.yaml", ["publish_to=s3://bucket/BottleNeck"])
    assert p["publish_to"] == "s3://bucket/BottleNeck"
    assert all("publish_to" not in params.for_step(step, p) for step in params.STEPS)


def test_each_step_receives_only_what_it_declares():
    p = params.load("params/default.yaml")
    assert set(params.for_step("01_ingestion", p)) == {"period", "input_dir", "erp_file", "web_file", "liaison_file"}
    assert set(params.for_step("03_analysis", p)) == {"premium_method", "premium_threshold", "top_n"}
    assert params.for_step("04_export", p) == {"csv_dialect": "standard"}


def test_every_rule_is_for_a_declared_parameter():
    """A rule under a misspelt name would check nothing, silently."""
    assert sorted(set(params.RULES) - set(params.all_declared())) == []
