import json

import numpy as np
import pytest
import torch

from dltnotes import book
from dltnotes.book import Claim, ClaimFailed, claim, glue, read_ledger


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    monkeypatch.setenv(book.LEDGER_DIR_VAR, str(tmp_path))
    monkeypatch.setenv(book.DOCNAME_VAR, "chapters/example")
    monkeypatch.setattr(book, "_started", set())
    return tmp_path


def test_true_claim_prints_and_returns_nothing(capsys):
    assert claim("one is positive", 1 > 0, "1 > 0") is None
    assert "✔ one is positive — 1 > 0" in capsys.readouterr().out


def test_recorded_claim_fields(ledger):
    claim("one is positive", 1 > 0, "1 > 0")
    assert read_ledger(ledger)["chapters/example"] == [Claim("one is positive", True, "1 > 0", "chapters/example")]


def test_false_claim_raises_an_assertion():
    with pytest.raises(ClaimFailed, match="one is negative"):
        claim("one is negative", 1 < 0, "1 < 0")
    assert issubclass(ClaimFailed, AssertionError)


@pytest.mark.parametrize("passed", [np.bool_(True), torch.tensor(True), torch.tensor([True])])
def test_numpy_and_scalar_tensor_bools_are_accepted(passed, capsys):
    claim("ok", passed)
    assert "✔ ok" in capsys.readouterr().out


@pytest.mark.parametrize("passed", [1, 0.0, "yes", None, torch.tensor([True, False]), np.array([True, True])])
def test_non_bool_outcomes_are_rejected(passed):
    with pytest.raises(TypeError, match="passed must be a bool"):
        claim("ambiguous", passed)


@pytest.mark.parametrize("statement", ["", "   ", None, 3])
def test_statement_must_be_text(statement):
    with pytest.raises(ValueError, match="statement"):
        claim(statement, True)


def test_detail_must_be_text():
    with pytest.raises(TypeError, match="detail"):
        claim("x", True, 0.5)


def test_nothing_is_written_outside_a_book_build(tmp_path, monkeypatch):
    monkeypatch.delenv(book.LEDGER_DIR_VAR, raising=False)
    monkeypatch.setenv(book.DOCNAME_VAR, "chapters/example")
    monkeypatch.chdir(tmp_path)
    claim("x", True)
    assert list(tmp_path.iterdir()) == []


def test_claims_are_recorded_in_order_and_read_back(ledger):
    claim("first", True, "a")
    claim("second", True, "b")
    with pytest.raises(ClaimFailed):
        claim("third", False, "c")
    path = ledger / "chapters__example.jsonl"
    assert [json.loads(line)["statement"] for line in path.read_text().splitlines()] == ["first", "second", "third"]
    got = read_ledger(ledger)
    assert list(got) == ["chapters/example"]
    assert [c.passed for c in got["chapters/example"]] == [True, True, False]


def test_a_new_execution_replaces_the_chapter_records(ledger, monkeypatch):
    claim("old", True)
    monkeypatch.setattr(book, "_started", set())  # a new kernel process
    claim("new", True)
    assert [c.statement for c in read_ledger(ledger)["chapters/example"]] == ["new"]


def test_read_ledger_missing_directory_and_bad_lines(tmp_path):
    assert read_ledger(tmp_path / "nope") == {}
    (tmp_path / "bad.jsonl").write_text("{not json}\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_ledger(tmp_path)


def test_glue_validates_names_and_returns_nothing():
    assert glue("value_1", 3.5) is None
    with pytest.raises(ValueError, match="identifiers"):
        glue("not a name", 1)


def test_glue_stores_plain_python_numbers():
    assert type(book._plain(np.float64(2.5))) is float
    assert type(book._plain(torch.tensor(3))) is int
    assert book._plain("text") == "text"
