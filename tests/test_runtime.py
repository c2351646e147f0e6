import random

import numpy as np
import pytest
import torch

import dltnotes
from dltnotes.runtime import progress, quiet


def test_version_is_a_string():
    assert isinstance(dltnotes.__version__, str) and dltnotes.__version__.count(".") == 2


def test_device_default_matches_cuda_availability(monkeypatch):
    monkeypatch.delenv("DLTNOTES_DEVICE", raising=False)
    assert dltnotes.device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_device_override(monkeypatch):
    monkeypatch.setenv("DLTNOTES_DEVICE", "cpu")
    assert dltnotes.device() == torch.device("cpu")


def test_device_override_rejects_garbage(monkeypatch):
    monkeypatch.setenv("DLTNOTES_DEVICE", "not-a-device")
    with pytest.raises(ValueError, match="not a torch device"):
        dltnotes.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_override_refuses_missing_cuda(monkeypatch):
    monkeypatch.setenv("DLTNOTES_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no CUDA device"):
        dltnotes.device()


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        gen = dltnotes.seed_everything(123)
        return (random.random(), np.random.rand(), torch.rand(3).tolist(), torch.rand(2, generator=gen).tolist())

    assert draw() == draw()
    first = draw()
    dltnotes.seed_everything(124)
    assert (random.random(), np.random.rand()) != first[:2]


@pytest.mark.parametrize("bad, err", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError), (True, TypeError)])
def test_seed_everything_rejects_bad_seeds(bad, err):
    with pytest.raises(err, match="seed"):
        dltnotes.seed_everything(bad)


def test_quiet_follows_environment(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DLTNOTES_QUIET", raising=False)
    assert not quiet()
    monkeypatch.setenv("CI", "true")
    assert quiet()
    monkeypatch.delenv("CI")
    monkeypatch.setenv("DLTNOTES_QUIET", "1")
    assert quiet()


def test_progress_yields_everything_and_is_disabled_when_quiet(monkeypatch):
    monkeypatch.setenv("DLTNOTES_QUIET", "1")
    bar = progress(range(5), desc="x")
    assert bar.disable
    assert list(bar) == [0, 1, 2, 3, 4]


def test_torch_threads_restores_the_previous_count():
    from dltnotes.runtime import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with torch_threads(1):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n must be >= 1"):
        with torch_threads(0):
            pass
