"""Provenance: every source a prior file cites resolves to an entry of docs/sources.toml (mc_engine/_sources.py)."""

from __future__ import annotations

import tomllib

import pytest
from conftest import REPO

from mc_engine._sources import Catalogue, prior_sources

PRIOR_FILES = sorted((REPO / "priors").rglob("*.toml"))


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(REPO / "docs" / "sources.toml")


def test_catalogue_entries_have_title_publisher_date_link_and_existing_paths(catalogue):
    assert len(catalogue.entries) >= 20
    assert catalogue.problems(REPO) == []


@pytest.mark.parametrize("path", PRIOR_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_source_a_prior_file_cites_resolves(catalogue, path):
    sources = list(prior_sources(tomllib.loads(path.read_text(encoding="utf-8"))))
    unresolved = {f"{where}: {text!r}": why for where, text in sources if (why := catalogue.unresolved(text))}
    assert not unresolved, f"{path.name}: sources that do not resolve in docs/sources.toml: {unresolved}"


def test_the_bundled_priors_are_covered():
    assert {"baseline.toml", "lab.toml", "funding_winter.toml"} <= {p.name for p in PRIOR_FILES}
    tree = tomllib.loads((REPO / "priors" / "baseline.toml").read_text(encoding="utf-8"))
    assert len(list(prior_sources(tree))) >= 100


@pytest.mark.parametrize("source, reason", [
    ("reported: see 999_0000000000000000.txt", "names '999_0000000000000000.txt'"),
    ("arXiv 9999.99999 says so", "names 'arXiv 9999.99999'"),
    ("example.org/figures: 3x", "names 'example.org/figures'"),
    ("our view", "cites no entry"),
    ("stress scenario: the regime pinned to winter", None),
    ("unused: the model does not read it", None),
    ("a blog post (reported)", None),  # press reports resolve to docs/priors-sources.md
    ("EST: halfway between the two", None),
    ("002_7f86058c04862de9.txt (SemiAnalysis 4-10x/yr)", None),
    ("CoreWeave 10-Q: $21.4B total debt", None),
])
def test_the_rule_rejects_unknown_documents_and_unsourced_text(catalogue, source, reason):
    problems = catalogue.unresolved(source)
    if reason is None:
        assert problems == []
    else:
        assert any(reason in p for p in problems), problems


def test_a_prior_file_citing_a_missing_file_fails(catalogue, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[market]\nsource = "seed 005_0123456789abcdef.txt"\nx = 1\n', encoding="utf-8")
    (where, text), = prior_sources(tomllib.loads(bad.read_text()))
    assert where == "market" and catalogue.unresolved(text)
