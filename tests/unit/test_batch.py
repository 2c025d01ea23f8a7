"""sign -o's output plan: one output per input, no clashes, nothing overwritten by accident."""

from __future__ import annotations

from pathlib import Path

import pytest

from dkimtool.core.batch import plan_outputs
from dkimtool.core.errors import CantCreateError, UsageError


def _inputs(tmp_path: Path, *names: str) -> list[str]:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"From: a@example.com\n\nx\n")
    return [str(folder / name) for name in names]


@pytest.mark.parametrize("state", ["missing", "empty", "unrelated file"])
def test_outputs_in_a_new_empty_or_unrelated_directory(tmp_path: Path, state: str) -> None:
    inputs = _inputs(tmp_path, "a.eml", "b.eml")
    out = tmp_path / "out"
    if state != "missing":
        out.mkdir()
    if state == "unrelated file":
        (out / "c.eml").write_bytes(b"")
    assert plan_outputs(inputs, str(out), force=False) == [str(out / "a.eml"), str(out / "b.eml")]


def test_an_existing_output_needs_force(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path, "a.eml", "b.eml")
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.eml").write_bytes(b"old")
    with pytest.raises(CantCreateError, match=r"out/b\.eml: already exists"):
        plan_outputs(inputs, str(out), force=False)
    assert plan_outputs(inputs, str(out), force=True)[1] == str(out / "b.eml")
    (out / "b.eml").unlink()
    (out / "b.eml").symlink_to(tmp_path / "nowhere")  # a dangling link exists too
    with pytest.raises(CantCreateError, match="already exists"):
        plan_outputs(inputs, str(out), force=False)


def test_an_input_is_never_its_own_output(tmp_path: Path) -> None:
    """-o into the inputs' own directory, or through a symbolic link, even with --force."""
    inputs = _inputs(tmp_path, "a.eml")
    for force in (False, True):
        with pytest.raises(UsageError, match="is also an input"):
            plan_outputs(inputs, str(tmp_path / "in"), force=force)
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.eml").write_bytes(b"From: a@example.com\n\nx\n")
    link = tmp_path / "in" / "m.eml"
    link.symlink_to(out / "m.eml")  # the input is out/m.eml under another name
    with pytest.raises(UsageError, match=r"out/m\.eml is also an input"):
        plan_outputs([str(link)], str(out), force=True)


def test_two_inputs_with_one_name_clash(tmp_path: Path) -> None:
    first = _inputs(tmp_path, "a.eml")[0]
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.eml").write_bytes(b"")
    with pytest.raises(UsageError, match="would both be written"):
        plan_outputs([first, str(other / "a.eml")], str(tmp_path / "out"), force=True)
