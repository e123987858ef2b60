"""Bad command lines end in one line that says what to do, exit status 2 and nothing written;
engine options are checked against the schema each engine declares, which ``--help`` lists."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from icm_core.api import InvalidInput
from icm_cli.cli import main
from icm_core.engines import engine_class, engine_names, get_engine, options_help

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "icm_core" / "examples"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _matte(out, *extra):
    return main(["matte", "--example", "--out", str(out), *extra])


def _batch(out, *extra):
    return main(["batch", "--reference", str(EXAMPLES / "reference.jpg"), "--mask",
                 str(EXAMPLES / "reference-mask.png"), str(EXAMPLES / "target-1.jpg"),
                 "--out", str(out), *extra])


def _one_line_error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("icm-matting: error: "), lines
    return lines[0]


@pytest.mark.parametrize("command", [_matte, _batch])
@pytest.mark.parametrize("inside", [False, True])
def test_out_naming_a_file_is_refused(tmp_path, capsys, command, inside):
    existing = tmp_path / "notes.txt"
    existing.write_text("the artist's file")
    out = existing / "mattes" if inside else existing
    before = _files(tmp_path)
    assert command(out) == 2
    assert "is a file, not a folder: give --out a folder" in _one_line_error(capsys)
    assert _files(tmp_path) == before and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("command", [_matte, _batch])
@pytest.mark.parametrize("option, message", [
    ("bogus=1", "The lite engine has no option 'bogus'; its options are quality, feature_side"),
    ("matting_side=abc", "matting_side takes a whole number 256…4096, not 'abc'"),
    ("matting_side=100", "matting_side takes a whole number 256…4096, not 100"),
    ("feature_side=640.5", "feature_side takes a whole number 128…2048, not '640.5'"),
    ("threads=0", "threads takes a whole number 1…CPU cores"),
    ("device=cuda", "device takes one of cpu, not 'cuda'"),
])
def test_bad_engine_options_are_refused(tmp_path, capsys, command, option, message):
    out = tmp_path / "out"
    assert command(out, "--engine-option", option) == 2
    assert message in _one_line_error(capsys)
    assert not out.exists()


def test_device_flag_reaches_the_engine_options(tmp_path, capsys):
    assert _matte(tmp_path / "out", "--device", "cuda") == 2  # lite: the CPU only
    assert "device takes one of cpu, not 'cuda'" in _one_line_error(capsys)
    from icm_cli.cli import build_parser
    from icm_cli.commands import parse_options

    args = build_parser().parse_args(["matte", "--example", "--out", "o", "--engine", "icm",
                                      "--device", "mps", "--engine-option", "ensemble_size=2",
                                      "--engine-option", "attention_slicing=auto"])
    assert parse_options(args) == {"device": "mps", "ensemble_size": 2, "attention_slicing": "auto"}


def test_get_engine_checks_options_for_every_caller():
    with pytest.raises(InvalidInput, match="has no option 'bogus'"):
        get_engine("lite", bogus=1)
    with pytest.raises(InvalidInput, match="matting_side takes a whole number 256…4096, not 'abc'"):
        get_engine("lite", matting_side="abc")
    with pytest.raises(InvalidInput, match="ensemble_size takes a whole number 1…64, not 0"):
        get_engine("icm", ensemble_size=0)  # refused before torch or any weights are touched
    with pytest.raises(InvalidInput, match="attention_slicing takes true or false or auto"):
        get_engine("icm", attention_slicing="sometimes")


@pytest.mark.parametrize("name", engine_names())
def test_every_constructor_keyword_is_declared_with_its_default(name):
    """The schema and the constructor cannot drift: same names, same defaults."""
    cls = engine_class(name)
    parameters = {key: p.default for key, p in inspect.signature(cls.__init__).parameters.items()
                  if key != "self"}
    assert {o.name: o.default for o in cls.OPTIONS} == parameters
    for option in cls.OPTIONS:
        assert option.help and option.kind in (int, float, bool, str, dict)
        if option.default is not None:
            option.check(name, option.default)  # every default is a value the schema accepts


def test_the_schema_is_read_without_torch():
    code = ("import sys; from icm_core.engines import options_help; options_help(); "
            "print(sorted(m for m in ('torch', 'diffusers', 'timm') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["matte", "batch", "eval"])
def test_help_lists_every_engine_option_with_its_range(command, capsys):
    with pytest.raises(SystemExit) as leaving:
        main([command, "--help"])
    assert leaving.value.code == 0
    text = capsys.readouterr().out
    assert options_help() in text
    for name in engine_names():
        for option in engine_class(name).OPTIONS:
            assert f"    {option.name}: {option.allowed()}" in text
    assert "matting_side: a whole number 256…4096\n" in text
    assert "--device {auto,cpu,cuda,mps}" in text
    assert max(map(len, options_help().splitlines())) <= 80  # a terminal's width


def test_gui_without_qt_says_what_to_install(tmp_path):
    """Run as a user without the GUI extra would: PySide6 cannot be imported."""
    code = ("import sys\n"
            "sys.modules['PySide6'] = None  # not installed\n"
            "from icm_cli.cli import main\n"
            "sys.exit(main(['gui', '--out', sys.argv[1]]))\n")
    env = {key: value for key, value in os.environ.items() if key != "QT_API"}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True,
                          text=True, cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == ("icm-matting: error: The app needs Qt for Python (PySide6), which "
                                   'is not installed: run `pip install -e ".[gui]"` in the '
                                   "icm-matting folder.")
    assert list(tmp_path.iterdir()) == []


def test_no_message_sends_users_to_pypi():
    """icm-matting is installed from its folder (README), not from PyPI, where it is not."""
    sources = [*ROOT.glob("icm_core/**/*.py"), *ROOT.glob("ui/**/*.py"),
               *ROOT.glob("icm_plugin/**/*.py"), ROOT / "README.md"]
    offenders = [str(path.relative_to(ROOT)) for path in sources
                 if "pip install icm-matting" in path.read_text(encoding="utf-8")]
    assert offenders == []
