# Two commands do everything on a fresh clone (each sets itself up first):
#   make book   -> the HTML site in _build/html   (chapters executed, cached between local builds)
#   make pdf    -> the whole book as one PDF in _build/pdf/dlt-notes.pdf (needs the OS package chromium)
#   make test   -> unit tests, every chapter through nbval, a strict (-n -W) build of the book, then a browser test
#                  of every rendered page (offline)
# Other targets: setup, sweep (every chapter at SCALE 0.5/1/2 and SEED 0/1/2; not part of test), sync (regenerate
# the .ipynb twins from the .md chapters), clean, set-repo.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= 2

.PHONY: setup book test sweep pdf sync clean set-repo

# The package is imported from this checkout (a git worktree tests its own dltnotes, not the editable install's).
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (dltnotes)" >/dev/null
	touch $(STAMP)

book: setup
	$(BIN)/jupyter-book build . --nitpick --warningiserror --keep-going

test: setup
	# one BLAS/OpenMP thread per worker: $(JOBS) workers share $(JOBS) cores, and small models run faster so.
	# Each chapter is executed once, here: its outputs and claims go to _build for the strict build (conftest.py).
	DLTNOTES_BOOK_DIR=$(CURDIR)/_build OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval-lax --nbval-current-env -p no:cacheprovider \
		--ignore=tests/test_site.py
	$(BIN)/jupyter-book build . --nitpick --warningiserror --keep-going
	# the rendered site in headless Chromium, offline (skipped without a browser, except under CI)
	$(BIN)/python -m pytest -p no:cacheprovider tests/test_site.py

# The whole book as one PDF (_build/pdf/dlt-notes.pdf): the single-page build printed by the OS Chromium.
pdf: setup
	$(BIN)/jupyter-book build . --builder singlehtml
	$(BIN)/python _ext/book_pdf.py

# The SCALE x SEED contract: a table chapter x setting with time and outcome; non-zero exit on any failure.
sweep: setup
	$(BIN)/python tests/sweep.py --jobs $(JOBS) $(SWEEP_ARGS)

sync: setup
	$(BIN)/jupytext --update --to ipynb $$(grep -l '^kernelspec:' chapters/*.md)

clean:
	rm -rf _build .pytest_cache

# Point the Colab button and the notebooks' install cell at your repository: make set-repo REPO=owner/name
set-repo:
	@test -n "$(REPO)" || (echo "usage: make set-repo REPO=owner/name" && exit 2)
	sed -i 's#your-org/dlt-notes#$(REPO)#g' _config.yml chapters/*.md tests/test_pairing.py
	$(MAKE) sync
