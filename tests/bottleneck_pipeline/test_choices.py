"""Each choice list has one home (choices.py) and is what its owner acts on: every value
params accepts is one the owning module handles, each in its own way."""

import pytest

from bottleneck_pipeline import choices, notify, params, products, tables
from bottleneck_pipeline.errors import ParamError


def test_every_notify_mode_is_one_notify_acts_on():
    acts = {
        m: (notify.wanted({"notify": m}, "succeeded"), notify.wanted({"notify": m}, "failed"))
        for m in choices.NOTIFY_MODES
    }
    assert acts == {"never": (False, False), "failure": (False, True), "always": (True, True)}


def test_every_csv_dialect_writes_its_own_format():
    assert len({products.select(d) for d in choices.CSV_DIALECTS}) == len(choices.CSV_DIALECTS)


def test_every_premium_method_is_named_for_the_reader():
    assert set(tables.METHODS) == set(choices.PREMIUM_METHODS)


@pytest.mark.parametrize(
    "name, values",
    [
        ("csv_dialect", choices.CSV_DIALECTS),
        ("notify", choices.NOTIFY_MODES),
        ("premium_method", choices.PREMIUM_METHODS),
    ],
)
def test_params_accepts_each_choice_and_refuses_the_rest(name, values):
    for value in values:
        params.validate_value(name, value)
    with pytest.raises(ParamError, match=f"parameter {name}: must be one of {', '.join(values)}, got 'other'"):
        params.validate_value(name, "other")
