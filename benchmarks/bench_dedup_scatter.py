"""Benchmark: dedup scattered over separate jobs (as on Slurm) against the single dedup job.

Generates ``--n-records`` records with planted exact and near duplicates (the generator of
``bench_dedup.py``), writes them as the dedup input (one JSONL, sorted by id) and dealt into
``--shards`` shard files (record k -> shard k mod n, as ``split_for_dedup`` does), then runs,
each as its own process (``python benchmarks/bench_dedup_scatter.py job ...``, one at a time,
one worker each: what one Slurm job per shard does):

* ``signatures`` once per shard: ``dedup_signatures`` + ``write_signatures`` (the
  ``dedup_signatures`` rule's work);
* ``gather``: ``read_signatures`` + ``dedup_gather``, writing the kept records and the duplicate
  map (the ``dedup`` rule's work with shards > 1);
* ``single``: ``dedup_records`` on the whole input in one process (the ``dedup`` rule with one
  shard).

Per job: wall time, CPU time (``os.wait4``) and peak RSS (the job's own VmHWM). The
gather's and the single job's outputs are compared byte for byte.

Usage::

    python benchmarks/bench_dedup_scatter.py --n-records 2000000 --shards 8 \\
        --out benchmarks/out/dedup_scatter.json
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sftmix.dedup import (  # noqa: E402
    dedup_gather,
    dedup_records,
    dedup_signatures,
    read_signatures,
    write_signatures,
)
from sftmix.records import read_jsonl, write_jsonl  # noqa: E402

# the schema's dedup defaults as the embedded default runs them (char 5-grams, exact verification)
PARAMS = {"exact": True, "near": True, "threshold": 0.8, "num_perm": 128, "shingle_unit": "char",
          "shingle_size": 5, "verify": "exact", "lsh_threshold": None}
SIG_KEYS = ("exact", "near", "num_perm", "shingle_unit", "shingle_size")


def run_job(args: argparse.Namespace) -> None:
    """One job (a child process): signatures of a shard, the gather, or the single job."""
    seed = args.seed
    if args.kind == "signatures":
        records = list(read_jsonl(args.records))
        sig = dedup_signatures(records, seed=seed, **{k: PARAMS[k] for k in SIG_KEYS})
        write_signatures(args.out, sig)
    else:
        run_gather_or_single(args)
    if args.report:
        Path(args.report).write_text(json.dumps({"peak_rss_mb": round(peak_rss_mb(), 1)}))


def run_gather_or_single(args: argparse.Namespace) -> None:
    seed = args.seed
    records = list(read_jsonl(args.records))
    if args.kind == "gather":
        sig = read_signatures(args.signatures)
        kept, dups = dedup_gather(records, sig, seed=seed, **PARAMS)
    else:
        kept, dups = dedup_records(records, seed=seed, workers=1, **PARAMS)
    out = Path(args.out)
    write_jsonl(out / "records.jsonl", kept)
    write_jsonl(out / "duplicates.jsonl", dups)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM of its address space). Not ``ru_maxrss``: a child
    started by vfork/exec inherits its parent's peak there (the bench's parent holds GBs)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measured(cmd: list[str], label: str, report: Path) -> dict[str, Any]:
    """Run ``cmd`` (a job, reporting its peak RSS to ``report``) as a child; its wall time, peak
    RSS and CPU seconds."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([*cmd, "--report", str(report)])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{label}: exit code {proc.returncode}")
    row = {"job": label, "wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
           **json.loads(report.read_text())}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "job":
        jp = argparse.ArgumentParser()
        jp.add_argument("kind", choices=["signatures", "gather", "single"])
        jp.add_argument("--records", required=True)
        jp.add_argument("--signatures", nargs="*", default=[])
        jp.add_argument("--out", required=True)
        jp.add_argument("--seed", type=int, default=1)
        jp.add_argument("--report", default=None, help="write this job's peak RSS here (JSON)")
        run_job(jp.parse_args(argv[1:]))
        return {}

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-records", type=int, default=2000000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1, help="MinHash seed")
    ap.add_argument("--data-seed", type=int, default=12345, help="corpus generator seed")
    ap.add_argument("--near-rate", type=float, default=0.05)
    ap.add_argument("--exact-rate", type=float, default=0.02)
    ap.add_argument("--skip-single", action="store_true", help="do not run the single job")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/out/dedup_scatter_work"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    from bench_dedup import Corpus, score

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    records, planted = Corpus(args.data_seed).generate(args.n_records, args.near_rate, args.exact_rate)
    gen_s = time.perf_counter() - t0
    n = len(records)
    # ids bench-NNNNNNN: generation order is id order, the dedup input order
    assert all(records[i]["id"] < records[i + 1]["id"] for i in range(n - 1))
    t0 = time.perf_counter()
    write_jsonl(work / "input.jsonl", records)
    shard_paths = [work / f"input_{s:03d}.jsonl" for s in range(args.shards)]
    for s, path in enumerate(shard_paths):
        write_jsonl(path, records[s::args.shards])
    write_s = time.perf_counter() - t0
    input_mb = (work / "input.jsonl").stat().st_size / 2**20
    del records
    print(f"generated {n} records in {gen_s:.0f}s, written in {write_s:.0f}s ({input_mb:.0f} MB)",
          file=sys.stderr, flush=True)

    me = [sys.executable, str(Path(__file__).resolve()), "job"]
    seed = ["--seed", str(args.seed)]
    jobs = []
    sig_paths = []
    for s, path in enumerate(shard_paths):
        sig_path = work / f"signatures_{s:03d}.npz"
        row = measured([*me, "signatures", "--records", str(path), "--out", str(sig_path), *seed],
                       f"signatures_{s:03d}", work / f"signatures_{s:03d}.rss.json")
        row["input_mb"] = round(path.stat().st_size / 2**20, 1)
        row["output_mb"] = round(sig_path.stat().st_size / 2**20, 1)
        jobs.append(row)
        sig_paths.append(sig_path)
    (work / "gather").mkdir()
    row = measured([*me, "gather", "--records", str(work / "input.jsonl"), "--signatures",
                    *map(str, sig_paths), "--out", str(work / "gather"), *seed], "gather",
                   work / "gather.rss.json")
    row["input_mb"] = round(input_mb + sum(p.stat().st_size for p in sig_paths) / 2**20, 1)
    jobs.append(row)
    single = None
    if not args.skip_single:
        (work / "single").mkdir()
        single = measured([*me, "single", "--records", str(work / "input.jsonl"),
                           "--out", str(work / "single"), *seed], "single",
                          work / "single.rss.json")
        single["input_mb"] = round(input_mb, 1)

    dups = list(read_jsonl(work / "gather" / "duplicates.jsonl"))
    kept = sum(1 for _ in open(work / "gather" / "records.jsonl", encoding="utf-8"))
    identical = None
    if single is not None:
        identical = all(filecmp.cmp(work / "gather" / f, work / "single" / f, shallow=False)
                        for f in ("records.jsonl", "duplicates.jsonl"))
    scatter = [j for j in jobs if j["job"].startswith("signatures")]
    gather = jobs[-1]
    scattered_wall = sum(j["wall_s"] for j in jobs)
    summary: dict[str, Any] = {
        "n_records": n,
        "shards": args.shards,
        "input_mb": round(input_mb, 1),
        "params": {**PARAMS, "seed": args.seed, "data_seed": args.data_seed,
                   "near_rate": args.near_rate, "exact_rate": args.exact_rate},
        "kept": kept,
        "exact_dups": sum(1 for r in dups if r["kind"] == "exact"),
        "near_dups": sum(1 for r in dups if r["kind"] == "near"),
        "quality_vs_planted": score(dups, planted),
        "jobs": jobs,
        "single": single,
        "scatter": {"max_wall_s": max(j["wall_s"] for j in scatter),
                    "sum_wall_s": round(sum(j["wall_s"] for j in scatter), 1),
                    "max_peak_rss_mb": max(j["peak_rss_mb"] for j in scatter)},
        "gather": {"wall_s": gather["wall_s"], "peak_rss_mb": gather["peak_rss_mb"]},
        "records_per_s": {
            "scattered_jobs_one_after_another": round(n / scattered_wall, 1),
            "scattered_shards_in_parallel": round(n / (max(j["wall_s"] for j in scatter)
                                                       + gather["wall_s"]), 1),
            "single": round(n / single["wall_s"], 1) if single else None},
        "gather_equals_single_bytes": identical,
        "environment": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                        "nice": os.nice(0), "generate_s": round(gen_s, 1),
                        "write_s": round(write_s, 1),
                        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    if identical is False:
        print("ERROR: scattered dedup and the single job disagree", file=sys.stderr)
        sys.exit(1)
    return summary


if __name__ == "__main__":
    main()
