"""Rule lmeval: one model on lm-eval tasks (the local per-category tasks, or standard ones by name)."""

import os

from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.records import write_json, write_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg = dict(snakemake.params.lmeval)  # noqa: F821
model_dir = str(snakemake.input.model)  # noqa: F821
task_dir = getattr(snakemake.input, "tasks", None)  # noqa: F821  (absent: the harness's built-in tasks)
task_dir = str(task_dir) if task_dir else None
if task_dir is not None and os.path.isdir(model_dir):
    offline_env()
limit_threads(snakemake.threads)  # noqa: F821
from sftmix.benchmarks import (  # noqa: E402
    clean_results,
    flatten_results,
    run_lmeval,
    sample_rows,
    write_results_tsv,
)

tasks = cfg["tasks"]
tasks = [tasks] if isinstance(tasks, str) else list(tasks)
log.info("lmeval: %s on %s (%s), lm-eval model %s", model_dir, ", ".join(tasks), task_dir or "built-in tasks",
         cfg["model"])
results = run_lmeval(model_dir, task_dir, tasks, device=cfg.get("device", "cpu"),
                     batch_size=cfg.get("batch_size", 8), limit=cfg.get("limit"), seed=int(cfg.get("seed", 0)),
                     apply_chat_template=bool(cfg.get("apply_chat_template", True)),
                     trust_remote_code=bool(cfg.get("trust_remote_code", False)),
                     model_args=cfg.get("model_args"), num_fewshot=cfg.get("num_fewshot"),
                     confirm_run_unsafe_code=bool(cfg.get("confirm_run_unsafe_code", False)),
                     model=cfg["model"], vllm=cfg.get("vllm"))
write_json(snakemake.output.json, clean_results(results))  # noqa: F821
rows = flatten_results(results)
write_results_tsv(snakemake.output.tsv, rows)  # noqa: F821
n = write_jsonl(snakemake.output.samples, sample_rows(results))  # noqa: F821
log.info("lmeval: %d per-item records (which items the model got right or wrong) in %s", n,
         snakemake.output.samples)  # noqa: F821
for r in rows:
    err = f" +- {r['stderr']:.4f}" if r["stderr"] is not None else ""
    log.info("  %-40s %-22s %.4f%s (n=%s)", r["task"], r["metric"], r["value"], err, r["n"])
finish(__name__)
