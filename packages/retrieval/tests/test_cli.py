"""`infomix retrieval`: eval over a named collection and a BEIR folder, index + search, TREC files, errors."""

import json

import pytest
from click.testing import CliRunner

from infomix.retrieval.cli import retrieval_group
from infomix.retrieval.trec import read_qrels, read_run, write_run


def invoke(*args):
    return CliRunner().invoke(retrieval_group, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def beir(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    docs = {"a": "shock waves on swept wings", "b": "heat transfer in boundary layers", "c": "wing flutter"}
    (folder / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": k, "title": "", "text": v}) for k, v in docs.items())
    )
    queries = {"q1": "swept wing shock", "q2": "boundary layer heat"}
    (folder / "queries.jsonl").write_text("\n".join(json.dumps({"_id": k, "text": v}) for k, v in queries.items()))
    (folder / "qrels.jsonl").write_text(
        "\n".join(json.dumps({"query-id": q, "corpus-id": d, "score": 1}) for q, d in (("q1", "a"), ("q2", "b")))
    )
    return folder


def test_eval_on_a_beir_folder_writes_run_and_report(beir, tmp_path):
    result = invoke("eval", beir, "-k", 2, "--run", tmp_path / "r.trec", "--report", tmp_path / "rep.json", "--json")
    summary = json.loads(result.output)
    assert summary["metrics"]["MRR@10"] == 1.0 and summary["metrics"]["nDCG@10"] == 1.0
    run = read_run(tmp_path / "r.trec")
    assert set(run) == {"q1", "q2"} and all(len(docs) <= 2 for docs in run.values())
    assert json.loads((tmp_path / "rep.json").read_text()) == summary


def test_eval_matches_trec_eval_on_cranfield(tmp_path):
    ir_measures = pytest.importorskip("ir_measures")
    out = invoke("eval", "cranfield", "-k", 100, "--run", tmp_path / "cran.trec", "--json")
    summary = json.loads(out.output)
    assert summary["queries"] == 225 and summary["metrics"]["nDCG@10"] > 0.3
    from infomix.core import get_registry

    qrels = get_registry().create("data.collection:cranfield").qrels
    theirs = ir_measures.pytrec_eval.calc_aggregate(
        [ir_measures.parse_measure("nDCG@10"), ir_measures.parse_measure("AP")],
        [ir_measures.Qrel(q, d, g) for q, j in qrels.items() for d, g in j.items()],
        [
            ir_measures.ScoredDoc(q, d, s)
            for q, docs in read_run(tmp_path / "cran.trec").items()
            for d, s in docs.items()
        ],
    )
    assert summary["metrics"]["nDCG@10"] == pytest.approx(theirs[ir_measures.parse_measure("nDCG@10")], abs=1e-6)
    assert summary["metrics"]["MAP"] == pytest.approx(theirs[ir_measures.parse_measure("AP")], abs=1e-6)


def test_index_then_search_equals_eval(beir, tmp_path):
    invoke("index", beir, "--out", tmp_path / "idx", "-p", "variant='bm25+'", "-p", "k1=1.2")
    searched = json.loads(
        invoke("search", tmp_path / "idx", beir, "-k", 3, "--run", tmp_path / "s.trec", "--json").output
    )
    direct = json.loads(
        invoke(
            "eval", beir, "-k", 3, "-p", "variant=bm25+", "-p", "k1=1.2", "--run", tmp_path / "e.trec", "--json"
        ).output
    )
    assert searched["metrics"] == direct["metrics"]
    assert (tmp_path / "s.trec").read_text() == (tmp_path / "e.trec").read_text()


def test_trec_files_round_trip_and_report_bad_lines(tmp_path):
    run = {"q1": {"d1": 1.0, "d2": 1.0, "d3": 0.5}}
    write_run(run, tmp_path / "run.trec", k=2)
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert lines == ["q1 Q0 d2 1 1.000000 infomix", "q1 Q0 d1 2 1.000000 infomix"]  # ties: decreasing doc id
    (tmp_path / "bad.trec").write_text("q1 Q0 d1 1 0.5 t\nq1 Q0 d2\n")
    with pytest.raises(ValueError, match=r"bad.trec:2"):
        read_run(tmp_path / "bad.trec")
    (tmp_path / "qrels").write_text("q1 0 d1 2\nq1 0 d2 0\n")
    assert read_qrels(tmp_path / "qrels") == {"q1": {"d1": 2, "d2": 0}}


def test_errors_name_the_problem(tmp_path):
    result = CliRunner().invoke(retrieval_group, ["eval", "no-such-collection"])
    assert result.exit_code != 0 and "neither a folder nor a collection name" in result.output
    result = CliRunner().invoke(retrieval_group, ["eval", "cranfield", "-p", "k1"])
    assert result.exit_code != 0 and "NAME=VALUE" in result.output
    result = CliRunner().invoke(retrieval_group, ["eval", "cranfield", "-p", "kk1=1.0"])
    assert result.exit_code != 0 and "did you mean: k1" in result.output
    result = CliRunner().invoke(retrieval_group, ["search", str(tmp_path), "cranfield"])
    assert result.exit_code != 0 and "infomix-retriever.json" in result.output
