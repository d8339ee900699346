"""The text-cell rules (cells.py) as the SQL macros apply them: what a French Excel would change
keeps a leading ``'``, what it shows as written does not; HTML entities decoded once."""

import duckdb
import pytest

from bottleneck_pipeline import cells, db


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    db.define_functions(con)
    yield con
    con.close()


# Text French Excel would turn into a date, a time, or a number that does not read back as written.
CHANGED = {
    "12/03": "a date (12 March)",
    "3 mars": "a date",
    "mars 2026": "a date",
    "2026-11-15": "a date",
    "9:30": "a time",
    "007": "a number: its zeros are lost",
    "00123": "a number: its zeros are lost",
    "-1,5": "a decimal-comma number",
    "1,50": "a number shown 1,5",
    "1 000": "a number shown 1000",
    "1234567890123456": "16 digits: Excel keeps 15, the last becomes 0",
    "2E3": "a number shown 2,00E+03",
    "15 %": "a percent, 0,15",
    "12 €": "an amount",
    "+5": "a number shown 5",
    "-0": "a number shown 0",
    "(5)": "an accountant's -5",
    "VRAI": "a truth value",
}
# Text French Excel shows as written: left alone (no apostrophe for the reader to see).
AS_WRITTEN = [
    "16004",  # a numeric SKU: a number, shown as written
    "-3",
    "0",
    "123456789012345",  # 15 digits: kept exactly
    "13127-1",
    "bon-cadeau-25-euros",
    "Château Margaux 2015",
    "2015",
    "Champagne Agrapart & Fils",
]


@pytest.mark.parametrize("text", CHANGED)
def test_excel_fr_protects_what_french_excel_would_change(con, text):
    assert con.execute("select excel_fr_text(?)", [text]).fetchone()[0] == "'" + text, CHANGED[text]


@pytest.mark.parametrize("text", AS_WRITTEN)
def test_excel_fr_leaves_what_french_excel_shows_as_written(con, text):
    assert con.execute("select excel_fr_text(?)", [text]).fetchone()[0] == text


def test_a_formula_is_neutralised_in_every_dialect(con):
    for macro in ("safe_text", "excel_fr_text"):
        assert con.execute(f"select {macro}('=1+1')").fetchone()[0] == "'=1+1"


ENTITIES = {
    "Champagne Agrapart &amp; Fils": "Champagne Agrapart & Fils",  # as WooCommerce stores it
    "Double &amp;amp; escaped": "Double &amp; escaped",  # decoded once, not twice
    "Moët & Chandon": "Moët & Chandon",  # a bare & is a title's own
    "R&D &ltd": "R&D &ltd",  # no ';': not an entity
    "&foo; inconnu": "&foo; inconnu",  # an unknown name stays as written
    "&Eacute;t&eacute; &#233;t&#xE9;": "Été été",
    "Guillemets &quot;x&quot; &#39;y&#39;": "Guillemets \"x\" 'y'",
}


@pytest.mark.parametrize("raw", ENTITIES)
def test_html_entities_are_decoded_once(con, raw):
    assert cells.unescape_html(raw) == ENTITIES[raw]
    assert con.execute("select decode_html(?)", [raw]).fetchone()[0] == ENTITIES[raw]


def test_a_decoded_control_character_is_removed_by_cleaning(con):
    assert con.execute("select clean_text(decode_html('a&#x202e;b'))").fetchone()[0] == "ab"
    assert con.execute("select decode_html(null)").fetchone()[0] is None
