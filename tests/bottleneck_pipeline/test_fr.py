"""The French formats readers see."""

import pytest

from bottleneck_pipeline import fr

T, N = "\u202f", "\u00a0"  # narrow no-break space (thousands, before %), no-break space (before €)


@pytest.mark.parametrize(
    "value, shown",
    [
        (70568.6, f"70{T}568,60{N}€"),
        (0, f"0,00{N}€"),
        (-1234.5, f"-1{T}234,50{N}€"),
        (-0.001, f"0,00{N}€"),  # rounds to zero: no minus sign
        (12_345_678.9, f"12{T}345{T}678,90{N}€"),
        (float("nan"), "–"),
        (float("inf"), "–"),
        (None, "–"),
        ("12", "–"),
    ],
)
def test_money(value, shown):
    assert fr.money(value) == shown
    assert " " not in fr.money(value)  # never an ordinary space: an amount never wraps


def test_numbers_percent_and_signs():
    assert fr.number(1467) == f"1{T}467" and fr.number(1_000_000) == f"1{T}000{T}000" and fr.number(0) == "0"
    assert fr.number(-5) == "-5" and fr.number(2.5, 1) == "2,5" and fr.number(1234.5678, 2) == f"1{T}234,57"
    assert fr.percent(12.5) == f"12,5{T}%" and fr.percent(-3.25, 2) == f"-3,25{T}%"
    assert fr.percent(7, 0, signed=True) == f"+7{T}%" and fr.percent(float("nan")) == "–"
    assert fr.signed_money(10) == f"+10,00{N}€" and fr.signed_money(-10) == f"-10,00{N}€"
    assert fr.signed_money(0) == f"0,00{N}€" and fr.number(True) == "–"


def test_dates_months_and_labels():
    assert fr.when("2026-11-15T08:00:00+00:00") == "15 novembre 2026 à 09:00 (heure de Paris)"
    assert fr.when("2026-07-01T22:30:00+00:00") == "2 juillet 2026 à 00:30 (heure de Paris)"  # summer time
    assert fr.when(None) == "–" and fr.month("2026-02") == "février 2026" and fr.month("") == ""
    assert fr.label("total_sales") == "Ventes (unités)" and fr.label("unknown_column") == "unknown_column"
    assert fr.status("pass") == "conforme" and fr.status("previous run not found at x").startswith("mois précédent")


def test_choices_read_as_a_sentence():
    assert fr.choices([True, False]) == "oui ou non"
    assert fr.choices(["instock", "outofstock", "onbackorder"]) == "« instock », « outofstock » ou « onbackorder »"
    assert fr.choices([1]) == "1" and fr.choices([]) == "" and fr.choices(None) == ""
    assert fr.choices([2.5, 10]) == "2,50 ou 10"


def test_counts_and_de_read_as_french():
    assert [fr.count(n, "ligne") for n in (0, 1, 2)] == ["0 ligne", "1 ligne", "2 lignes"]
    assert fr.count(1234, "vin premium", "vins premium") == f"1{T}234 vins premium"
    assert fr.count(float("nan"), "ligne") == "– lignes"
    assert fr.of("octobre 2026") == "d'octobre 2026" and fr.of("août 2026") == "d'août 2026"
    assert fr.of("novembre 2026") == "de novembre 2026" and fr.of("") == "de "
