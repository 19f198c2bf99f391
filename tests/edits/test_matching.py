"""Locating lines in a file: every fit, at the strictest tolerance that finds one."""

from __future__ import annotations

import pytest

from previewd.edits.matching import (
    EXACT,
    INDENT,
    STRIP,
    TRAILING,
    Fit,
    Text,
    closest,
    describe_places,
    locate,
    not_found_hint,
)

ALL = (EXACT, TRAILING, INDENT)


@pytest.mark.parametrize(
    ("content", "lines", "eol", "final_newline"),
    [
        ("", [], "\n", True),
        ("a", ["a"], "\n", False),
        ("a\n", ["a"], "\n", True),
        ("\n", [""], "\n", True),
        ("a\nb", ["a", "b"], "\n", False),
        ("a\r\nb\r\n", ["a", "b"], "\r\n", True),
        ("a\r\nb", ["a", "b"], "\r\n", False),
        ("a\r\nb\n", ["a\r", "b"], "\n", True),  # mixed endings: the CR is content
        ("a\rb\n", ["a\rb"], "\n", True),  # a lone CR is no line end
    ],
)
def test_text_splits_lines_and_puts_them_back(
    content: str, lines: list[str], eol: str, final_newline: bool
) -> None:
    text = Text.parse(content)
    assert (text.lines, text.eol, text.final_newline) == (lines, eol, final_newline)
    assert text.render() == content


def test_exact_fits_are_all_found() -> None:
    lines = ["a", "b", "a", "b", "a"]
    assert [fit.start for fit in locate(lines, ["a", "b"], ALL)] == [0, 2]
    assert [fit.start for fit in locate(lines, ["a"], ALL, start=1)] == [2, 4]
    assert all(fit.tier == EXACT for fit in locate(lines, ["a"], ALL))


def test_a_stricter_tier_hides_looser_ones() -> None:
    # One exact fit and one that only fits ignoring trailing spaces: the exact one alone.
    lines = ["x = 1  ", "x = 1"]
    fits = locate(lines, ["x = 1"], ALL)
    assert fits == [Fit(1, EXACT)]


def test_trailing_whitespace_is_the_second_tier() -> None:
    lines = ["def f():  ", "    return 1\t"]
    fits = locate(lines, ["def f():", "    return 1"], ALL)
    assert fits == [Fit(0, TRAILING)]
    assert locate(lines, ["def f():", "    return 1"], (EXACT,)) == []


def test_one_indentation_shift_is_the_third_tier_and_moves_the_replacement() -> None:
    lines = ["class A:", "    def f(self):", "        return 1", "", "        # done"]
    fits = locate(lines, ["def f(self):", "    return 1"], ALL)
    assert fits == [Fit(1, INDENT, "", "    ")]
    assert fits[0].shift(["def f(self):", "    return 2", "", "x"]) == [
        "    def f(self):",
        "        return 2",
        "",
        "    x",
    ]


def test_an_indentation_shift_to_the_left() -> None:
    lines = ["if x:", "  y()", "z()"]
    fits = locate(lines, ["    if x:", "      y()"], ALL)
    assert fits == [Fit(0, INDENT, "    ", "")]
    assert fits[0].shift(["    if x:", "      w()"]) == ["if x:", "  w()"]
    # A REPLACE line indented less than the shift takes away cannot move.
    assert fits[0].shift(["  w()"]) is None


def test_tabs_for_spaces_is_a_shift() -> None:
    lines = ["\tif x:", "\t\ty()"]
    fits = locate(lines, ["    if x:", "    \ty()"], ALL)
    assert fits == [Fit(0, INDENT, "    ", "\t")]
    assert fits[0].shift(["    z()"]) == ["\tz()"]


def test_a_shift_must_be_the_same_for_every_line() -> None:
    lines = ["  a", "    b"]
    assert locate(lines, ["a", "b"], ALL) == []


def test_blank_lines_match_blank_lines_whatever_their_spaces() -> None:
    lines = ["  a", "   ", "  b"]
    assert locate(lines, ["a", "", "b"], ALL) == [Fit(0, INDENT, "", "  ")]
    assert locate(["  a", "x", "  b"], ["a", "", "b"], ALL) == []


def test_strip_ignores_surrounding_whitespace_line_by_line() -> None:
    lines = ["  a", "b  ", "\tc"]
    assert locate(lines, ["a", "  b", "c"], (EXACT, TRAILING, STRIP)) == [Fit(0, STRIP)]


def test_an_empty_needle_fits_nowhere() -> None:
    assert locate(["a"], [], ALL) == []


def test_at_pins_the_position() -> None:
    lines = ["a", "b", "a", "b"]
    assert [f.start for f in locate(lines, ["a", "b"], ALL, at=2)] == [2]
    assert locate(lines, ["a", "b"], ALL, at=1) == []
    assert locate(lines, ["a", "b"], ALL, at=3) == []  # would run past the end


def test_a_needle_longer_than_the_file_fits_nowhere() -> None:
    assert locate(["a"], ["a", "b"], ALL) == []


def test_closest_points_at_the_lines_that_look_most_alike() -> None:
    lines = ["import os", "", "def f():", "    x = 1", "    return x", "", "def g():", "    pass"]
    near = closest(lines, ["def f():", "    x = 2", "    return x"])
    assert near == (2, 3)
    assert closest(lines, ["nothing", "like", "it"]) is None
    hint = not_found_hint(lines, ["def f():", "    x = 2", "    return x"], "SEARCH")
    assert "3 | def f():" in hint and "5 |     return x" in hint


def test_places_are_described_for_people() -> None:
    fits = [Fit(i, EXACT) for i in (0, 9, 19)]
    assert describe_places(fits[:1]) == "line 1"
    assert describe_places(fits) == "lines 1, 10 and 20"
    many = [Fit(i, EXACT) for i in range(8)]
    assert describe_places(many) == "lines 1, 2, 3, 4, 5 and 3 more"
