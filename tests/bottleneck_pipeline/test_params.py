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
        ("colour=red", "unknown parameter 'colour' (--set); known parameters: drift_threshold, erp_file, "),
        ("premium_threshold=abc", "parameter premium_threshold: expected float, got 'abc'"),
        ("premium_threshold=-1", "parameter premium_threshold: must be >= 0.0, got -1.0"),
        ("premium_method=median", "parameter premium_method: must be one of zscore, iqr, got 'median'"),
        ("top_n=2.5", "parameter top_n: expected int, got 2.5"),
        ("run_dir=/tmp/x", "parameter run_dir (--set): set it with --run-dir"),
        ("premium_threshold", "--set 'premium_threshold': expected KEY=VALUE"),
        ("publish_to=https://bucket/BottleNeck/", "parameter publish_to 'https://bucket/BottleNeck/': expected s3://"),
        ("publish_to=s3://bucket/BottleNeck/../other/", "parameter publish_to 's3://bucket/BottleNeck/../other/': '..'"),
        ("input_dir=s3://", "parameter input_dir 's3://': expected s3://bucket/prefix/"),
    ],
)
def test_bad_parameters_are_refused_with_one_line(override, message):
    with pytest.raises(ParamError) as err:
        params.load("params/default.yaml", [override])
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_params_file_problems(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ParamError, match="expected a mapping"):
        params.load(str(bad))
    with pytest.raises(ParamError, match="params file nope.yaml: not found"):
        params.load("nope.yaml")
    bad.write_text("premium_threshold: true\n")
    with pytest.raises(ParamError, match="expected float, got True"):
        params.load(str(bad))


def test_publish_to_is_a_run_parameter_not_a_notebook_one():
    p = params.load("params/default.yaml", ["publish_to=s3://bucket/BottleNeck"])
    assert p["publish_to"] == "s3://bucket/BottleNeck"
    assert all("publish_to" not in params.for_step(step, p) for step in params.STEPS)


def test_each_step_receives_only_what_it_declares():
    p = params.load("params/default.yaml")
    assert set(params.for_step("01_ingestion", p)) == {"input_dir", "erp_file", "web_file", "liaison_file"}
    assert set(params.for_step("03_analysis", p)) == {"premium_method", "premium_threshold"}
    assert params.for_step("04_export", p) == {}
