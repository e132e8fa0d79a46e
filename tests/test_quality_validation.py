"""Quality scorers against planted defects: precision of a top-n, base rate, per category."""

import json
import math
from types import SimpleNamespace

import pytest

from sftmix.quality import QUALITY_COLUMNS, write_quality
from sftmix.quality_validation import (
    ALL,
    VALIDATION_COLUMNS,
    quality_precision,
    quality_validation_markdown,
    quality_validation_rows,
    read_quality_validation,
    write_quality_validation,
)
from sftmix.ranking import top_n
from sftmix.records import read_json, write_json, write_jsonl
from sftmix.report import table_page
from sftmix.rng import derive_seed

SEED = 7
NAN = float("nan")
# cat A: a0..a5, cat B: b0..b3; defective: a1 (wrong_value), a4 (filler), b2 (truncated)
DEFECTS = {"a1": "wrong_value", "a4": "filler", "b2": "truncated"}
IDS = [f"a{i}" for i in range(6)] + [f"b{i}" for i in range(4)]
# IFD: a3 NaN and a5 >= 1 cannot be ranked; the order of the rest is a1 a0 a4 a2 b0 b2 b1 b3
IFD = {"a0": 0.9, "a1": 0.95, "a2": 0.8, "a3": NAN, "a4": 0.85, "a5": 1.2, "b0": 0.5, "b1": 0.4, "b2": 0.45,
       "b3": 0.3}


def _pool():
    return [{"id": i, "source": "s", "messages": [], "meta": {"category": "A" if i[0] == "a" else "B"}}
            for i in IDS]


def _truth():
    return {i: {"category": "A" if i[0] == "a" else "B", "defect": DEFECTS.get(i)} for i in IDS}


def _rows():
    """length: a perfect scorer (every clean record above every defective one); instag: constant;
    ifd: the hand-made ranking above; deita: not computed (NaN)."""
    out = []
    for k, i in enumerate(IDS):
        out.append({"id": i, "category": "", "ifd": IFD[i], "ppl_cond": 1.0, "ppl_uncond": 1.0, "instag": 1,
                    "length": 1 if i in DEFECTS else 10 + k, "deita": NAN})
    return out


@pytest.fixture()
def result():
    return quality_precision(_pool(), _rows(), _truth(), [2, 4, 6, 10], seed=SEED, categories=["A", "B"])


def test_hand_made_case_has_the_known_precisions(result):
    assert result["pool"] == {"n": 10, "n_clean": 7, "base_rate": 0.7,
                              "defects": {"filler": 1, "truncated": 1, "wrong_value": 1},
                              "per_category": {"A": {"n": 6, "n_clean": 4, "base_rate": 4 / 6},
                                               "B": {"n": 4, "n_clean": 3, "base_rate": 0.75}}}
    ifd = result["scorers"]["ifd"]
    assert (ifd["n_eligible"], ifd["n_clean_eligible"], ifd["eligible_base_rate"]) == (8, 5, 5 / 8)
    assert ifd["per_category"] == {"A": {"n_eligible": 4, "n_clean_eligible": 2},
                                   "B": {"n_eligible": 4, "n_clean_eligible": 3}}
    s = ifd["sizes"]
    assert [s[n]["precision"] for n in ("2", "4", "6", "10")] == [0.5, 0.5, 0.5, 5 / 8]
    assert s["4"]["defects_selected"] == {"filler": 1, "wrong_value": 1}
    assert s["4"]["per_category"]["A"] == {"n_selected": 4, "n_clean_selected": 2, "precision": 0.5}
    assert s["4"]["per_category"]["B"] == {"n_selected": 0, "n_clean_selected": 0, "precision": None}
    assert s["4"]["empty_categories"] == ["B"] and s["6"]["empty_categories"] == []
    assert s["6"]["defects_selected"] == {"filler": 1, "truncated": 1, "wrong_value": 1}
    assert s["10"]["short"] and s["10"]["n_selected"] == 8 and not s["6"]["short"]
    assert s["2"]["lift"] == pytest.approx(0.5 - 0.7)


def test_auc_of_each_scorer_and_the_report_table(result):
    """ROC AUC over the rankable records: the perfect length scorer 1, the constant instag 0.5 (all
    ties), IFD by hand: clean a0 a2 b0 b1 b3 against defective a1 a4 b2 (8 rankable)."""
    length, instag, ifd, deita = (result["scorers"][k] for k in ("length", "instag", "ifd", "deita"))
    assert length["auc"] == 1.0 and length["auc_p"] < 0.05 and (length["auc_n_clean"], length["auc_n_defective"]) == (7, 3)
    assert instag["auc"] == 0.5
    # pairs (clean > defective): a0 > a4, b2; a2 > b2; b0 > b2; b1, b3: none -> 4 of 15
    assert ifd["auc"] == pytest.approx(4 / 15) and (ifd["auc_n_clean"], ifd["auc_n_defective"]) == (5, 3)
    assert deita["auc"] is None and deita["auc_p"] is None
    md = quality_validation_markdown(result)
    assert "| scorer | ROC AUC (p) | precision@2 | precision@4 | precision@6 | precision@10 |" in md
    assert "| length | 1.000 (" in md and "| deita | n/a | n/a (n/a)" in md
    assert "defects: filler 1, truncated 1, wrong_value 1." in md and "[1 empty]" in md


def test_a_perfect_scorer_has_precision_one(result):
    s = result["scorers"]["length"]["sizes"]
    assert s["2"]["precision"] == s["4"]["precision"] == s["6"]["precision"] == 1.0
    assert s["6"]["defects_selected"] == {}
    assert s["10"]["precision"] == 0.7  # everything: the base rate


def test_a_constant_scorer_gives_the_seeded_draw(result):
    """All ties: the top-n is the first n ids in the seeded tie order (derive_seed(seed, "tie", id)),
    computed here independently of the ranking code."""
    order = sorted(IDS, key=lambda i: derive_seed(SEED, "tie", i))
    s = result["scorers"]["instag"]["sizes"]
    for n in (2, 4, 6):
        want = sum(i not in DEFECTS for i in order[:n]) / n
        assert s[str(n)]["precision"] == want
    other = quality_precision(_pool(), _rows(), _truth(), [4], seed=SEED + 1)
    order2 = sorted(IDS, key=lambda i: derive_seed(SEED + 1, "tie", i))
    assert other["scorers"]["instag"]["sizes"]["4"]["n_clean_selected"] == sum(i not in DEFECTS for i in order2[:4])
    assert order2[:4] != order[:4]  # the seed matters (for this case)


def test_a_scorer_that_ranks_nothing(result):
    d = result["scorers"]["deita"]
    assert d["n_eligible"] == 0 and d["eligible_base_rate"] is None
    assert all(v["precision"] is None and v["short"] and v["n_selected"] == 0 for v in d["sizes"].values())
    assert d["sizes"]["2"]["empty_categories"] == ["A", "B"]


def test_ranking_is_the_selections_ranking():
    """The validated top-n is what the quality-score mixtures and D_qs pick (same key, same seed)."""
    from sftmix.quality import quality_map
    from sftmix.studies.beyond_iid.mixture import quality_mixture

    pool = _pool()
    for name in ("ifd", "instag", "length"):
        q = quality_map(_rows(), name)
        cands = [r for r in pool if r["id"] in q]
        for n in (1, 3, len(cands)):
            assert [r["id"] for r in top_n(cands, q, n, seed=SEED)] == \
                [r["id"] for r in quality_mixture(cands, q, n, seed=SEED)]


def test_rows_and_tsv_round_trip(result, tmp_path):
    rows = quality_validation_rows(result)
    assert len(rows) == 4 * 4 * 3 and set(rows[0]) == set(VALIDATION_COLUMNS)
    over = {(r["scorer"], r["size"]): r for r in rows if r["category"] == ALL}
    assert over[("ifd", 4)]["left_empty"] == 1 and over[("ifd", 4)]["precision"] == 0.5
    assert over[("ifd", 4)]["n_eligible"] == 8 and over[("ifd", 4)]["n_clean_eligible"] == 5
    b = next(r for r in rows if (r["scorer"], r["size"], r["category"]) == ("ifd", 4, "B"))
    assert b["left_empty"] == 1 and math.isnan(b["precision"]) and b["n_pool"] == 4 and b["base_rate"] == 0.75
    path = tmp_path / "q.tsv"
    assert write_quality_validation(path, rows) == len(rows)
    back = read_quality_validation(path)
    assert len(back) == len(rows)
    for x, y in zip(rows, back, strict=True):
        for c in VALIDATION_COLUMNS:
            same = (math.isnan(x[c]) and math.isnan(y[c])) if isinstance(x[c], float) and math.isnan(x[c]) else x[c] == y[c]
            assert same, (c, x[c], y[c])
    write_quality_validation(tmp_path / "q2.tsv", back)
    assert (tmp_path / "q2.tsv").read_bytes() == path.read_bytes()


def test_inputs_that_do_not_match_raise():
    truth = _truth()
    del truth["a0"]
    with pytest.raises(ValueError, match="not in the ground truth"):
        quality_precision(_pool(), _rows(), truth, [2], seed=SEED)
    old = {i: {k: v for k, v in t.items() if k != "defect"} for i, t in _truth().items()}
    with pytest.raises(ValueError, match="records no defects"):
        quality_precision(_pool(), _rows(), old, [2], seed=SEED)


def test_the_rule_script(tmp_path):
    from sftmix.quality import read_quality

    from .scripts import run_rule_script

    assert tuple(_rows()[0]) == QUALITY_COLUMNS
    write_jsonl(tmp_path / "pool.jsonl", _pool())
    write_quality(tmp_path / "scores.tsv", _rows())
    write_json(tmp_path / "truth.json", {"records": _truth()})
    out = SimpleNamespace(json=str(tmp_path / "v.json"), tsv=str(tmp_path / "v.tsv"), markdown=str(tmp_path / "q.md"),
                          html=str(tmp_path / "q.html"))
    smk = SimpleNamespace(
        input=SimpleNamespace(pool=str(tmp_path / "pool.jsonl"), quality=str(tmp_path / "scores.tsv"),
                              truth=str(tmp_path / "truth.json")),
        params=SimpleNamespace(categories=["A", "B"], sizes=[2, 4, 6, 10], seed=SEED),
        output=out, log=[str(tmp_path / "v.log")])
    run_rule_script("validate_quality", smk)
    got = read_json(out.json)
    want = quality_precision(_pool(), read_quality(tmp_path / "scores.tsv"), _truth(), [2, 4, 6, 10], seed=SEED,
                             categories=["A", "B"])
    assert got == json.loads(json.dumps(want))
    assert len(read_quality_validation(out.tsv)) == 48
    log = (tmp_path / "v.log").read_text()
    assert "ifd n=4: precision 0.500" in log and "deita n=2: ranks no record" in log
    assert "length: ROC AUC clean over defective 1.000" in log
    assert (tmp_path / "q.md").read_text() == quality_validation_markdown(want)
    assert (tmp_path / "q.html").read_text() == table_page(quality_validation_markdown(want),
                                                           "Quality scorers against the planted defects")
