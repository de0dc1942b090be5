"""README.md's command reference is the commands' own --help (issue 14), regenerated with
cog as sqlite-utils does; this fails while the two differ."""

from __future__ import annotations

from pathlib import Path

from cogapp import Cog

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_command_reference_is_the_commands_own_help(capsys):
    status = Cog().main(["cog", "--check", "--diff", "--check-fail-msg", "run .venv/bin/cog -r README.md",
                         str(README)])
    assert status == 0, capsys.readouterr().out


def test_the_reference_documents_every_command():
    text = README.read_text()
    for heading in ("### `camscan scan`", "### `camscan sensors register`", "### `camscan signatures test`",
                    "### `camscan demo`"):
        assert heading in text
