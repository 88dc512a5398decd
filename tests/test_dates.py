import pytest

from registry.dates import PartialDate


@pytest.mark.parametrize(
    ("text", "precision", "display"),
    [
        ("1980-12-30", "day", "30 December 1980"),
        ("1949-10", "month", "October 1949"),
        ("1954", "year", "1954"),
    ],
)
def test_a_date_keeps_and_shows_its_own_precision(text, precision, display):
    date = PartialDate.parse(text)
    assert date.precision == precision
    assert date.display() == display
    assert str(date) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1949-1", "is not a date"),
        ("Oct 1949", "is not a date"),
        ("1949-13", "no month 13"),
        ("2023-02-29", "that month has 28 days"),
        ("0000", "no year 0000"),
        ("", "is not a date"),
    ],
)
def test_malformed_or_impossible_dates_are_refused_with_the_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        PartialDate.parse(text)


def test_a_leap_day_is_a_real_day():
    assert PartialDate.parse("2024-02-29").display() == "29 February 2024"


@pytest.mark.parametrize(
    ("earlier", "later", "before"),
    [
        ("1949-10", "1980-12-30", True),
        ("1980-12-29", "1980-12-30", True),
        ("1980-12", "1980-12-30", False),  # the month contains the day
        ("1949", "1949-10", False),
        ("1949-10-02", "1949-10", False),
    ],
)
def test_is_before_compares_whole_periods(earlier, later, before):
    assert PartialDate.parse(earlier).is_before(PartialDate.parse(later)) is before
