"""steps: the order of the run, and the slices of it the runner, the run directory and a
notebook run alone take."""

from bottleneck_pipeline import steps


def test_the_slices_of_the_run():
    assert steps.starting_at("03_analysis") == ("03_analysis", "04_export")
    assert steps.starting_at("") == steps.starting_at(None) == steps.STEPS
    assert steps.before("03_analysis") == ("01_ingestion", "02_cleaning_tests")
    assert steps.before(steps.STEPS[0]) == ()
    assert [steps.number(s) for s in steps.STEPS] == [1, 2, 3, 4]
    assert steps.NOTEBOOKS[0] == "01_ingestion.ipynb" and steps.HTML[-1] == "04_export.html"
