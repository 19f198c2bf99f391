"""Every setting and every CLI command is documented (the docs cannot fall behind)."""

from __future__ import annotations

from pathlib import Path

from previewd.cli import main
from previewd.config import Config

DOCS = Path(__file__).parent.parent / "docs"


def test_every_setting_is_in_the_settings_doc() -> None:
    text = (DOCS / "settings.md").read_text()
    missing = [name for name in Config.model_fields if f"PREVIEWD_{name.upper()}" not in text]
    assert missing == []


def test_every_setting_has_help() -> None:
    assert [n for n, f in Config.model_fields.items() if not f.description] == []


def test_every_command_is_in_the_cli_doc() -> None:
    text = (DOCS / "cli.md").read_text()
    assert main.commands  # the group has commands to check
    missing = [name for name in main.commands if f"previewd {name}" not in text]
    assert missing == []
