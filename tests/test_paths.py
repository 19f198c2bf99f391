from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from previewd.errors import InvalidPath
from previewd.paths import check_collisions, clean_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("index.html", "index.html"),
        ("src/app.js", "src/app.js"),
        ("./src/app.js", "src/app.js"),
        (".gitignore", ".gitignore"),
        (".github/workflows/ci.yml", ".github/workflows/ci.yml"),
        ("a/.git-keep", "a/.git-keep"),
        ("..foo/bar..", "..foo/bar.."),
        ("my file (1).txt", "my file (1).txt"),
        ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),  # NFD in, NFC out
        ("日本/語.md", "日本/語.md"),
        ("x" * 255, "x" * 255),
    ],
)
def test_clean_path_accepts_and_normalises(raw: str, expected: str) -> None:
    assert clean_path(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("./", "empty"),
        ("/etc/passwd", "absolute"),
        ("//server/share", "absolute"),
        ("C:\\Windows\\x", "drive"),
        ("C:/Windows/x", "drive"),
        ("c:x", "drive"),
        ("src\\app.js", "backslash"),
        ("..", "'..'"),
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("a/..", "'..'"),
        (".", "'.'"),
        ("a/./b", "'.'"),
        ("././a", "'.'"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("a\x00b", "control character '\\x00'"),
        ("a\nb", "control character '\\n'"),
        ("a\x1bb", "control character '\\x1b'"),
        ("a\x7fb", "control character '\\x7f'"),
        ("a\x85b", "control character '\\x85'"),
        ("a\x9fb", "control character '\\x9f'"),
        ("a\udce9b", "not valid UTF-8"),
        (".git", ".git"),
        (".git/config", ".git"),
        ("sub/.git/hooks/pre-commit", ".git"),
        (".GIT/config", ".git"),
        (".git./config", ".git"),
        ("x" * 256, "longer than 255 bytes"),
        ("é" * 128, "longer than 255 bytes"),  # 128 characters, 256 bytes
        ("/".join(["x" * 200] * 6), "longer than 1024 bytes"),
        ("x" * 5000, "longer than 1024 bytes"),
        ("/".join(["é" * 100] * 6), "longer than 1024 bytes"),  # 605 characters
    ],
)
def test_clean_path_refuses(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        clean_path(raw)
    message = caught.value.message
    assert reason in message
    assert repr(raw)[:60].rstrip("'") in message  # names the path, control chars visible
    assert caught.value.hint is not None and "relative path" in caught.value.hint


def test_clean_path_refuses_non_strings() -> None:
    with pytest.raises(InvalidPath, match="must be a string"):
        clean_path(b"a.txt")  # type: ignore[arg-type]


def test_control_characters_are_shown_escaped() -> None:
    with pytest.raises(InvalidPath) as caught:
        clean_path("evil\x1b[31m.txt")
    assert "\x1b" not in caught.value.message
    assert "'evil\\x1b[31m.txt'" in caught.value.message


@pytest.mark.parametrize(
    ("paths", "names"),
    [
        (["a.txt", "a.txt"], ["'a.txt'", "twice"]),
        (["README.md", "readme.md"], ["'README.md'", "'readme.md'", "case"]),
        (["Src/app.js", "src/APP.js"], ["'Src/app.js'", "'src/APP.js'"]),
        (["straße.txt", "STRASSE.txt"], ["'straße.txt'", "'STRASSE.txt'"]),
        (["\u00e9.txt", "e\u0301.txt"], ["'\u00e9.txt'", "normalisation"]),
        (["a", "a/b"], ["'a' is a file", "'a/b'"]),
        (["a/b/c", "a/b"], ["'a/b' is a file", "'a/b/c'"]),
        (["A", "a/b"], ["'A' is a file", "'a/b'"]),
        (["docs/x.md", "Docs"], ["'Docs' is a file", "'docs/x.md'"]),
    ],
)
def test_check_collisions_refuses(paths: list[str], names: list[str]) -> None:
    with pytest.raises(InvalidPath) as caught:
        check_collisions(paths)
    for name in names:
        assert name in caught.value.message


def test_check_collisions_accepts_a_tree() -> None:
    check_collisions(["a/b", "a/c", "a/d/e", "ab", "a.b", "b/a", "A-b"])
    check_collisions([])
    check_collisions(iter(["x/y", "x/z"]))  # any iterable, read once


# Properties ---------------------------------------------------------------------------

# Few characters, so that separators, dots and colons meet often.
_parts = st.sampled_from(
    ["a", "B", "é", "e\u0301", "ﬁ", "/", ".", "..", "\\", ":", "C:", "\x00", "\n", "\x7f",
     "\x85", "\u202e", "\udcff", ".git", ".GIT", " ", "./", "//"]
)  # fmt: skip
_raw_paths = st.lists(_parts, max_size=12).map("".join) | st.text(max_size=40)


@given(_raw_paths)
@example("./a")
@example("././a")
@example("a/./b")
@example("C:\\x")
def test_clean_path_returns_only_clean_paths(raw: str) -> None:
    try:
        path = clean_path(raw)
    except InvalidPath as e:
        assert repr(raw)[:20] in e.message or len(raw) > 1024
        return
    assert path
    assert not path.startswith("/")
    assert ".." not in path.split("/")
    assert "." not in path.split("/")
    assert "" not in path.split("/")
    assert "\\" not in path
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in path)
    assert ".git" not in path.casefold().split("/")
    assert unicodedata.is_normalized("NFC", path)
    assert len(path.encode("utf-8")) <= 1024
    assert clean_path(path) == path  # idempotent


@given(_raw_paths)
def test_a_clean_path_collides_with_itself_and_with_its_children(raw: str) -> None:
    try:
        path = clean_path(raw)
    except InvalidPath:
        return
    check_collisions([path])
    with pytest.raises(InvalidPath):
        check_collisions([path, path])
    swapped = path.swapcase()
    if swapped != path and swapped.casefold() == path.casefold():
        with pytest.raises(InvalidPath, match="differ only in case"):
            check_collisions([path, swapped])
    child = f"{path}/x"
    try:
        child = clean_path(child)
    except InvalidPath:  # too long
        return
    with pytest.raises(InvalidPath):
        check_collisions([child, path])
