"""``icm-matting install gimp`` says when no GIMP 3 was found: the plug-in is still put where
GIMP 3 looks (an artist may install GIMP after the tool, or never have started it yet), and the
note says so and how to reach the Flatpak GIMP instead."""

from __future__ import annotations

import os

import pytest

from icm_cli.cli import main

NOTE = "No GIMP 3 was found here"


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    programs = tmp_path / "bin"
    programs.mkdir()
    monkeypatch.setenv("PATH", str(programs))
    return tmp_path / "config"


def _install(capsys) -> str:
    assert main(["install", "gimp"]) == 0
    return capsys.readouterr().out


def test_no_gimp_3_is_said_and_the_plugin_waits_for_it(config, capsys):
    out = _install(capsys)
    folder = config / "GIMP" / "3.0" / "plug-ins"
    assert f"{NOTE} (it never ran, and no gimp-3.0 is on the PATH): the plug-in waits in {folder}" in out
    assert "--plugins ~/.var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins" in out
    assert (folder / "icm-matting" / "icm-matting.py").is_file()
    assert main(["uninstall", "gimp"]) == 0
    assert not (config / "GIMP").exists()


def test_a_gimp_3_that_ran_gets_no_note(config, capsys):
    (config / "GIMP" / "3.0").mkdir(parents=True)
    assert NOTE not in _install(capsys)


def test_a_gimp_3_program_gets_no_note(config, tmp_path, capsys):
    program = tmp_path / "bin" / "gimp-3.0"
    program.write_text("#!/bin/sh\n")
    os.chmod(program, 0o755)
    assert NOTE not in _install(capsys)
