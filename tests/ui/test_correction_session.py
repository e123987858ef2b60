"""The widget-free correction session and a target's strokes (issue 22 points 5, 10, 13)."""

from __future__ import annotations

import numpy as np

from ui.correction_session import Answer, CorrectionSession, Strokes
from ui.worker import TargetDone


def done_for(shape=(40, 60)):
    alpha = np.zeros(shape, np.float32)
    alpha[10:30, 20:40] = 1.0
    return TargetDone(0, "t", "t", alpha, None, {}, None, 0.1)


def test_strokes_step_together_and_never_overlap():
    strokes = Strokes((40, 60))
    strokes.begin((10, 10), 3, remove=False)
    strokes.extend((20, 10))
    strokes.end()
    strokes.begin((15, 10), 3, remove=True)  # over the keep stroke: remove wins there
    strokes.end()
    hints = strokes.hints()
    assert hints.remove[10, 15] == 1 and hints.keep[10, 15] == 0 and hints.keep[10, 10] == 1
    assert strokes.undo() and strokes.hints().keep[10, 15] == 1 and strokes.hints().remove.max() == 0
    assert strokes.undo() and strokes.hints() is None and strokes.empty and not strokes.can_undo
    assert strokes.redo() and strokes.hints().keep[10, 10] == 1
    strokes.close()


def test_only_the_answer_to_the_latest_strokes_counts_and_accept_needs_the_final():
    done = done_for()
    strokes = Strokes(done.alpha.shape)
    session = CorrectionSession(done, np.zeros((40, 60, 3), np.float32), strokes)
    assert session.state.startswith("Paint") and not session.can_accept and not session.unaccepted
    strokes.begin((5, 5), 3, remove=False)
    strokes.end()
    first = session.serial + 1
    assert session.request() is not None and session.state == "Updating…"
    strokes.begin((50, 35), 3, remove=True)
    strokes.end()
    latest = session.request()
    assert latest.remove[35, 50] == 1 and latest.keep[5, 5] == 1  # all strokes, every time
    stale = Answer(np.ones((40, 60), np.float32), None, True, 0.1)
    assert not session.answer(first, stale) and not session.can_accept
    preview = Answer(np.full((40, 60), 0.5, np.float32), None, False, 0.05)
    assert session.answer(session.serial, preview) and session.state == "Preview… refining"
    assert not session.can_accept and session.unaccepted
    final = Answer(np.full((40, 60), 0.25, np.float32), None, True, 0.2)
    assert session.answer(session.serial, final) and session.can_accept and session.state == "Corrected."
    strokes.undo()
    strokes.undo()
    assert session.request() is None  # every stroke undone: the result as it was, nothing to accept
    assert session.alpha is done.alpha and not session.can_accept and session.state.startswith("Paint")
    strokes.close()


def test_an_engine_error_is_a_state_not_an_accept():
    done = done_for()
    strokes = Strokes(done.alpha.shape)
    session = CorrectionSession(done, np.zeros((40, 60, 3), np.float32), strokes)
    strokes.begin((5, 5), 3, remove=False)
    strokes.end()
    session.request()
    assert session.answer(session.serial, None, "overlap")
    assert "could not use" in session.state and not session.can_accept
    strokes.close()
