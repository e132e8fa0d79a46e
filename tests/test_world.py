"""The generated world: formats, planted structure, determinism."""

import json
from collections import Counter

import pytest

from sftmix.world import FORMAT_EXT, generate_world, make_resource, write_source


@pytest.fixture(scope="module")
def world(smoke_config):
    return generate_world(smoke_config["world"], smoke_config["seed"])


def test_same_config_same_bytes(smoke_config, tmp_path):
    blobs = []
    for run in range(2):
        rows, truth = generate_world(smoke_config["world"], smoke_config["seed"])
        out = b""
        for s, rs in rows.items():
            p = tmp_path / f"{run}_{s}.{FORMAT_EXT[smoke_config['world']['sources'][s]['format']]}"
            write_source(p, smoke_config["world"]["sources"][s]["format"], rs)
            out += p.read_bytes()
        blobs.append(out + json.dumps(truth, sort_keys=True).encode())
    assert blobs[0] == blobs[1]
    rows2, _ = generate_world(smoke_config["world"], smoke_config["seed"] + 1)
    assert rows2 != rows


def test_world_has_everything_the_issue_names(world, smoke_config):
    rows, truth = world
    cats = smoke_config["world"]["categories"]
    assert len(cats) >= 10
    formats = {smoke_config["world"]["sources"][s]["format"] for s in rows}
    assert {"alpaca", "sharegpt", "dolly"} <= formats
    kinds = Counter(t["kind"] for t in truth["records"].values())
    assert kinds["exact_duplicate"] > 0 and kinds["near_duplicate"] > 0
    malformed = Counter(t["malformed"] for t in truth["records"].values() if t["malformed"])
    assert set(malformed) >= {"broken_json", "invalid_utf8", "missing_field", "wrong_type",
                              "empty_response", "overlong_record"}
    assert len(truth["edges"]) >= 1 and len(truth["antagonistic"]) >= 1
    # defective answers of every kind, in every source (world.quality of config/config.yaml)
    defects = Counter(t["defect"] for t in truth["records"].values() if t["defect"])
    assert set(defects) == {"wrong_value", "flipped_label", "truncated", "other_item", "filler"}
    assert all(sum(k.values()) > 0 for k in truth["defects"].values())
    # every category has items, multi-turn dialogue lives in a conversation source
    per_cat = Counter(t["category"] for t in truth["records"].values() if t["kind"] == "original")
    assert set(per_cat) == set(cats)
    for s, rs in rows.items():
        for rw in rs:
            if rw.truth["category"] == "Multi-turn Dialogue" and not rw.truth["malformed"]:
                assert smoke_config["world"]["sources"][s]["format"] == "sharegpt"
                assert len(rw.payload["conversations"]) >= 4


def test_planted_dependency_shares_latent_facts(world, smoke_config):
    """A dependent's items use its prerequisite's facts; the prerequisite drills them all."""
    rows, truth = world
    for edge in truth["edges"]:
        pre, dep = edge["prerequisite"], edge["dependent"]
        n_facts = truth["resources"][edge["resource"]]["n_facts"]
        pre_facts = {f for t in truth["records"].values() if t["category"] == pre for f in t["facts"]}
        dep_facts = {f for t in truth["records"].values() if t["category"] == dep for f in t["facts"]}
        assert pre_facts == set(range(n_facts)), "prerequisite must cover its resource"
        assert dep_facts <= pre_facts
        per_item = Counter(len(t["facts"]) for t in truth["records"].values() if t["category"] == dep)
        assert set(per_item) == {1}


def test_arithmetic_and_string_facts_are_correct():
    res = make_resource("a", {"kind": "arithmetic", "size": 50, "operand_range": [2, 30]}, 3)
    for f in res.facts:
        assert f["value"] == eval(f"{f['a']} {f['op']} {f['b']}")  # noqa: S307 - our own digits
    s = make_resource("s", {"kind": "strings", "size": 40}, 3)
    from sftmix.world import STRING_OPS

    for f in s.facts:
        # the python expression shown to the model must print the value it is trained on
        code = STRING_OPS[f["op"]][1].format(v="w")
        assert eval(code, {}, {"w": f["word"]}) == f["value"]  # noqa: S307
    assert len({(f["word"], f["op"]) for f in s.facts}) == 40


def test_config_errors_name_the_key(smoke_config):
    import copy

    bad = copy.deepcopy(smoke_config["world"])
    bad["categories"]["Math Word Problems"]["resource"] = "strs"
    with pytest.raises(ValueError, match=r"world.categories.Math Word Problems.resource"):
        generate_world(bad, 1)
    bad = copy.deepcopy(smoke_config["world"])
    bad["dependencies"].append({"prerequisite": "Nope", "dependent": "Translation"})
    with pytest.raises(ValueError, match=r"world.dependencies\[\d\].prerequisite"):
        generate_world(bad, 1)


# ---- defective responses (world.quality) -------------------------------------------------------

def _with_quality(world_cfg, **quality):
    import copy

    cfg = copy.deepcopy(world_cfg)
    cfg["quality"] = {**cfg["quality"], **quality}
    return cfg


def _response(payload, fmt):
    """The last answer of a well-formed raw row (None for a malformed one)."""
    if not isinstance(payload, dict):
        return None
    value = (payload.get("conversations") or [{}])[-1].get("value") if fmt == "sharegpt" else \
        payload.get({"alpaca": "output", "dolly": "response", "openorca": "response"}[fmt])
    return value if isinstance(value, str) else None


def _rows_by_id(rows):
    from sftmix.records import make_id

    return {make_id(s, pos): rw for s, rs in rows.items() for pos, rw in enumerate(rs)}


@pytest.mark.parametrize("rates", [None, {"world_alpaca": 0.5, "world_dolly": 0.3, "world_orca": 0.1,
                                            "world_sharegpt": 0.4}])
def test_defect_rates_are_realised_within_sampling_error(rates):
    """On the default world (config/config.yaml: 3,630 items), with its own rates and with higher
    ones: each source's share of defective originals is its rate within 4 binomial standard errors
    (sqrt(p(1 - p)/n): +-0.042 for alpaca's 0.15 over ~1,150 items; a false alarm about once in
    16,000 per source); the kind shares follow the weights renormalized over the kinds that fit
    (label templates: flipped_label or filler only), within the same tolerance."""
    from .conftest import load_config

    cfg = load_config("config.yaml")
    world = cfg["world"] if rates is None else _with_quality(cfg["world"], rates=rates)
    rates = world["quality"]["rates"]
    _, truth = generate_world(world, cfg["seed"])
    n, bad = Counter(), Counter()
    for rid, t in truth["records"].items():
        if t["kind"] == "original":
            s = rid.rsplit("-", 1)[0]
            n[s] += 1
            bad[s] += t["defect"] is not None
    for s, p in rates.items():
        tol = 4 * (p * (1 - p) / n[s]) ** 0.5
        print(f"{s}: {bad[s]}/{n[s]} = {bad[s] / n[s]:.4f} defective (rate {p}, tolerance {tol:.3f})")
        assert abs(bad[s] / n[s] - p) <= tol, s
        assert sum(truth["defects"][s].values()) == bad[s]
    assert truth["defect_rates"] == rates
    w = world["quality"]["kinds"]
    category = {t["item"]: t["category"] for t in truth["records"].values()}
    labels = [d for n, d in truth["defective_items"].items()
              if world["categories"][category[int(n)]]["template"] in ("sentiment", "binary_label")]
    share = sum(d["kind"] == "flipped_label" for d in labels) / len(labels)
    p = w["flipped_label"] / (w["flipped_label"] + w["filler"])
    assert {d["kind"] for d in labels} == {"flipped_label", "filler"}
    assert abs(share - p) <= 4 * (p * (1 - p) / len(labels)) ** 0.5, (share, p, len(labels))


@pytest.fixture(scope="module")
def defective_world(smoke_config):
    world = _with_quality(smoke_config["world"], rates={s: 0.4 for s in smoke_config["world"]["sources"]})
    return world, *generate_world(world, smoke_config["seed"])


def test_ground_truth_of_defects_is_complete_and_matches_the_rows(defective_world):
    """Every kind is applied only where it fits, the ground truth names each defective record, and
    the rendered rows say what it says: a flipped label is the other label, a wrong value changes
    one line (a value of the same resource), a truncation is a prefix, an other_item answer is a
    clean donor's rendered answer, a filler is a filler; duplicates carry their item's defect."""
    import re

    from sftmix.world.defects import FILLERS, VALUE_FAMILIES, fitting_kinds
    from sftmix.world.templates import LABELS

    world, rows, truth = defective_world
    by_id = _rows_by_id(rows)
    fmt = {s: world["sources"][s]["format"] for s in rows}
    items = truth["defective_items"]
    res = {name: make_resource(name, spec, truth["seed"]) for name, spec in world["resources"].items()}
    answer_of_item: dict[int, str] = {}
    seen_kinds = Counter()
    for rid, t in truth["records"].items():
        d = items.get(str(t["item"]))
        assert t["defect"] == (d["kind"] if d else None), rid  # duplicates too
        if t["kind"] != "original" or t["malformed"]:
            continue
        got = _response(by_id[rid].payload, fmt[rid.rsplit("-", 1)[0]])
        answer_of_item[t["item"]] = got
        if d is None:
            continue
        seen_kinds[d["kind"]] += 1
        assert got == d["defective"] != d["clean"], rid
        assert d["source"] == rid.rsplit("-", 1)[0]
        fam = world["categories"][t["category"]]["template"]
        assert d["kind"] in fitting_kinds(fam, d["clean"]), (rid, fam, d["kind"])
        if fam in ("sentiment", "binary_label"):  # one-word labels: nothing else fits
            assert d["kind"] in ("flipped_label", "filler"), (rid, d["kind"])
        elif fam in ("extraction", "summarization"):  # no resource value, no label
            assert d["kind"] in ("truncated", "other_item", "filler"), (rid, d["kind"])
        if d["kind"] == "flipped_label":
            assert {d["clean"], d["defective"]} == set(LABELS[fam])
        elif d["kind"] == "wrong_value":
            assert fam in VALUE_FAMILIES
            a, b = d["clean"].split("\n"), d["defective"].split("\n")
            assert len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1, (a, b)
            if fam == "arithmetic":
                (x, y), = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
                assert x.rsplit(" = ", 1)[0] == y.rsplit(" = ", 1)[0]
                rname = world["categories"][t["category"]]["resource"]
                assert int(y.rsplit(" = ", 1)[1]) in {f["value"] for f in res[rname].facts}
            if fam == "translation":
                wa, wb = d["clean"].split(" "), d["defective"].split(" ")
                assert len(wa) == len(wb) and sum(x != y for x, y in zip(wa, wb, strict=True)) == 1
        elif d["kind"] == "truncated":
            assert d["clean"].startswith(d["defective"])
            assert 2 <= len(d["defective"].split()) < len(d["clean"].split())
        elif d["kind"] == "other_item":
            assert d["donor_item"] is not None and str(d["donor_item"]) not in items
            assert re.sub(r"\s+", " ", d["defective"]) != re.sub(r"\s+", " ", d["clean"])
        else:
            assert d["defective"] in FILLERS
    assert set(seen_kinds) == {"wrong_value", "flipped_label", "truncated", "other_item", "filler"}
    # an other_item answer is some other (clean, same-category) item's rendered answer
    for n, d in items.items():
        if d["kind"] == "other_item" and d["donor_item"] in answer_of_item:
            assert answer_of_item[d["donor_item"]] == d["defective"]
            donor_cat = next(t["category"] for t in truth["records"].values() if t["item"] == d["donor_item"])
            own_cat = next(t["category"] for t in truth["records"].values() if t["item"] == int(n))
            assert donor_cat == own_cat
    # duplicates of a defective item carry its defective answer (up to case and spacing)
    n_dup = 0
    for rid, t in truth["records"].items():
        d = items.get(str(t["item"]))
        if t["kind"] in ("exact_duplicate", "near_duplicate") and d is not None:
            got = _response(by_id[rid].payload, fmt[rid.rsplit("-", 1)[0]])
            assert " ".join(got.lower().split()) == " ".join(d["defective"].lower().split()), rid
            n_dup += 1
    assert n_dup > 0
    # the summary counts the defective originals per source and kind
    count = Counter((d["source"], d["kind"]) for d in items.values())
    assert {(s, k): v for s, kinds in truth["defects"].items() for k, v in kinds.items() if v} == dict(count)


def test_defects_change_only_the_defective_rows(smoke_config, defective_world):
    """Defects draw from their own streams: against the same world without defects, every row
    without a defect is byte-identical and the ground truth differs only in ``defect``."""
    world, rows, truth = defective_world
    clean_rows, clean_truth = generate_world(_with_quality(world, rates={}, default_rate=0.0), smoke_config["seed"])
    assert not clean_truth["defective_items"] and all(t["defect"] is None for t in clean_truth["records"].values())
    assert list(clean_truth["records"]) == list(truth["records"])
    n_changed = 0
    for rid, t in truth["records"].items():
        assert {k: v for k, v in t.items() if k != "defect"} == \
            {k: v for k, v in clean_truth["records"][rid].items() if k != "defect"}
    for s in rows:
        assert len(rows[s]) == len(clean_rows[s])
        for a, b in zip(rows[s], clean_rows[s], strict=True):
            if a.truth["defect"] is None:
                assert a.payload == b.payload
            elif not a.truth["malformed"]:
                assert a.payload != b.payload
                n_changed += 1
    assert n_changed > 0


def test_kind_fallback_and_config_errors(smoke_config):
    """Only flipped_label weighted: label items get it, every other item falls back to filler."""
    from sftmix.world.templates import LABELS

    only = {k: 0.0 for k in smoke_config["world"]["quality"]["kinds"]} | {"flipped_label": 1.0}
    world = _with_quality(smoke_config["world"], kinds=only, default_rate=0.3, rates={})
    _, truth = generate_world(world, smoke_config["seed"])
    kinds = Counter()
    for t in truth["records"].values():
        if t["kind"] == "original" and t["defect"]:
            label = world["categories"][t["category"]]["template"] in LABELS
            assert t["defect"] == ("flipped_label" if label else "filler")
            kinds[t["defect"]] += 1
    assert kinds["flipped_label"] > 0 and kinds["filler"] > 0
    with pytest.raises(ValueError, match=r"world.quality.rates.nope"):
        generate_world(_with_quality(smoke_config["world"], rates={"nope": 0.1}), 1)
    zero = {k: 0.0 for k in only}
    with pytest.raises(ValueError, match=r"world.quality.kinds"):
        generate_world(_with_quality(smoke_config["world"], kinds=zero, default_rate=0.2), 1)


def test_defective_records_survive_ingest_filter_and_dedup(smoke_config, defective_world, tmp_path):
    """Defective rows are valid rows: ingest and filter keep every one that is not malformed, and
    dedup flags none outside its planted duplicate cluster."""
    from sftmix.dedup import dedup_records
    from sftmix.filters import filter_records
    from sftmix.ingest import ingest, iter_source
    from sftmix.validation import dedup_scores

    world, rows, truth = defective_world
    kept_all = []
    for s, rs in rows.items():
        fmt = world["sources"][s]["format"]
        p = tmp_path / f"{s}.{FORMAT_EXT[fmt]}"
        write_source(p, fmt, rs)
        recs, _, _ = ingest(iter_source({}, str(p), smoke_config["ingest"]["max_record_chars"]), source=s, fmt=fmt)
        kept, _, _ = filter_records(recs, smoke_config["filter"])
        kept_all += kept
    records = truth["records"]
    kept_ids = {r["id"] for r in kept_all}
    defective = {rid for rid, t in records.items() if t["defect"] and not t["malformed"]}
    assert len(defective) > 100 and defective <= kept_ids
    d = smoke_config["dedup"]
    kept_all.sort(key=lambda r: r["id"])
    _, dups = dedup_records(kept_all, exact=d["exact"], near=d["near"], threshold=d["threshold"],
                            num_perm=d["num_perm"], shingle_unit=d["shingle_unit"], shingle_size=d["shingle_size"],
                            verify=d["verify"], lsh_threshold=d["lsh_threshold"], seed=smoke_config["seed"],
                            workers=1, progress=False)
    wrong = [x for x in dups if records[x["id"]]["cluster"] is None
             or records[x["id"]]["cluster"] != records[x["duplicate_of"]]["cluster"]]
    assert not wrong, wrong[:5]
    assert dedup_scores(dups, records, kept_ids)["recall"] >= 0.95


def test_other_item_plants_no_near_duplicate(smoke_config):
    """An other_item answer is taken only when the record stays under the items' distinctness bound
    against its donor (Jaccard of character 5-grams < 0.7; unguarded, Python and String Processing
    records reach 0.8, the dedup threshold); a category whose donors all fail would fall back to
    another kind, which stays rare."""
    from sftmix.world.defects import MAX_DONOR_JACCARD, _Shingles

    kinds = {k: 0.0 for k in smoke_config["world"]["quality"]["kinds"]} | {"other_item": 1.0}
    world = _with_quality(smoke_config["world"], kinds=kinds, rates={s: 0.6 for s in smoke_config["world"]["sources"]})
    rows, truth = generate_world(world, smoke_config["seed"])
    by_id = _rows_by_id(rows)
    messages = {}
    for rid, t in truth["records"].items():
        if t["kind"] == "original" and not t["malformed"]:
            fmt = world["sources"][rid.rsplit("-", 1)[0]]["format"]
            p = by_id[rid].payload
            if fmt == "sharegpt":
                messages[t["item"]] = [{"role": "user" if c["from"] == "human" else "assistant", "content": c["value"]}
                                       for c in p["conversations"]]
            else:
                user = p.get("instruction") or p.get("question")
                ctx = p.get("input") or p.get("context")
                user = p["question"] if "question" in p else (user if not ctx else f"{user}\n\n{ctx}")
                messages[t["item"]] = [{"role": "user", "content": user}, {"role": "assistant", "content": _response(p, fmt)}]
    shingles = _Shingles()
    n = Counter()
    for k, d in truth["defective_items"].items():
        n[d["kind"]] += 1
        if d["kind"] == "other_item" and int(k) in messages and d["donor_item"] in messages:
            a, b = shingles(messages[int(k)]), shingles(messages[d["donor_item"]])
            assert len(a & b) / len(a | b) < MAX_DONOR_JACCARD, (k, d["donor_item"])
            n["checked"] += 1
    labels = sum(1 for k in truth["defective_items"]
                 if world["categories"][truth["records"][_original_of(truth, int(k))]["category"]]["template"]
                 in ("sentiment", "binary_label"))
    assert n["checked"] > 100
    assert n["filler"] - labels <= 0.02 * n["other_item"], n  # donors found for (nearly) every item


def _original_of(truth, item):
    return next(rid for rid, t in truth["records"].items() if t["item"] == item and t["kind"] == "original")
