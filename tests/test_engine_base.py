"""What every engine shares (icm_core/engines/base.py): encoding several references into one,
the reference checks and the out-of-memory guard, each written once for both engines."""

from __future__ import annotations

import numpy as np
import pytest

from icm_core.api import InvalidInput, OutOfMemory, Reference
from icm_core.engines.base import check_references, encode_references, memory_guard


class Refusing:
    """Encodes a reference unless its mask is empty; combines by listing."""

    name = "refusing"

    def encode_reference(self, image, mask, *, seed=0):
        if mask.max() <= 0.5:
            raise InvalidInput("The reference mask is empty.")
        return Reference(self.name, [image.shape], (image.shape[:2],))

    def combine(self, references):
        return Reference(self.name, [s for r in references for s in r.data], ())


IMAGE = np.zeros((4, 4, 3), np.float32)
FULL, EMPTY = np.ones((4, 4), np.float32), np.zeros((4, 4), np.float32)


def test_one_pair_is_encoded_alone_and_several_are_combined():
    assert encode_references(Refusing(), [(IMAGE, FULL)]).data == [(4, 4, 3)]
    assert encode_references(Refusing(), [(IMAGE, FULL)] * 3).data == [(4, 4, 3)] * 3


def test_a_refused_extra_pair_is_named_in_the_callers_words():
    pairs = [(IMAGE, FULL), (IMAGE, FULL), (IMAGE, EMPTY)]
    with pytest.raises(InvalidInput, match=r"^Extra reference 2 \(--also\): The reference mask"):
        encode_references(Refusing(), pairs)  # the command line's words by default
    with pytest.raises(InvalidInput, match="^Corrected target 2: The reference mask is empty"):
        encode_references(Refusing(), pairs, extra="Corrected target {}")
    with pytest.raises(InvalidInput, match="^The reference mask is empty"):
        encode_references(Refusing(), [(IMAGE, EMPTY), (IMAGE, FULL)])  # the first is the reference


def test_references_of_another_engine_or_none_are_refused():
    lite = Reference("lite", object(), ((4, 4),))
    check_references([lite], "lite")
    with pytest.raises(InvalidInput, match="encoded by the 'icm' engine; encode it again with the lite"):
        check_references([lite, Reference("icm", object(), ())], "lite")
    with pytest.raises(InvalidInput, match="encoded by the 'lite' engine"):
        check_references([lite], "lite", data=dict)  # right name, wrong kind of data
    with pytest.raises(InvalidInput, match="encoded by the 'str' engine"):
        check_references(["not a reference"], "lite")
    with pytest.raises(InvalidInput, match="at least one reference"):
        check_references([], "lite")


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("CUDA out of memory. Tried to allocate"),
                                   RuntimeError("[enforce fail] can't allocate memory"),
                                   ValueError("OpenCV: Insufficient memory (Failed to allocate)")])
def test_allocation_failures_become_out_of_memory_with_the_engines_advice(error):
    with pytest.raises(OutOfMemory, match="^lower matting_side$"):
        with memory_guard("lower matting_side"):
            raise error


def test_other_errors_pass_the_memory_guard_unchanged():
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with memory_guard("lower matting_side"):
            raise RuntimeError("shape mismatch")
