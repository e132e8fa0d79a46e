"""Rule judge: MT-Bench-style single-answer grading of one model's answers by an OpenAI-compatible judge."""

import os

from sftmix.judge import JudgeConfig, skipped_result
from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.records import read_jsonl, write_json

log = setup_logging(snakemake.log[0])  # noqa: F821
params = dict(snakemake.params.judge)  # noqa: F821
run_keys = {"max_new_tokens": 256, "max_items": None, "device": "cpu", "batch_size": 8, "use_reference": False}
run = {k: params.pop(k, default) for k, default in run_keys.items()}
cfg = JudgeConfig.from_dict(params)
if not cfg.enabled:
    result = skipped_result()
    log.info("judge: skipped: %s", result["reason"])
    write_json(snakemake.output[0], result)  # noqa: F821
else:
    if os.path.isdir(str(snakemake.input.model)):  # noqa: F821  (only the judge endpoint is remote)
        offline_env()
    limit_threads(snakemake.threads)  # noqa: F821
    from sftmix import judge
    from sftmix.scoring import load_causal_lm

    records = judge.select_items(read_jsonl(snakemake.input.eval), run["max_items"])  # noqa: F821
    model, tokenizer = load_causal_lm(str(snakemake.input.model), device=run["device"])  # noqa: F821
    log.info("judge: answering %d eval prompts (max_new_tokens=%d)", len(records), run["max_new_tokens"])
    answers = judge.generate_answers(model, tokenizer, records, max_new_tokens=int(run["max_new_tokens"]),
                                     batch_size=int(run["batch_size"]), device=run["device"])
    items = judge.judge_items(records, answers, use_reference=bool(run["use_reference"]))
    if cfg.api_key_env and not os.environ.get(cfg.api_key_env):
        log.warning("judge: environment variable %s is not set; sending no API key", cfg.api_key_env)
    log.info("judge: rating %d answers with %s at %s", len(items), cfg.model, cfg.base_url)
    rows = judge.judge_answers(cfg, items)
    for row, item in zip(rows, items, strict=True):
        row["answer"] = item["answer"]
    summary = judge.summarize_judgements(rows)
    write_json(snakemake.output[0], {"skipped": False, "judge": cfg.describe(), "run": run,  # noqa: F821
                                     "summary": summary, "rows": rows})
    o = summary["overall"]
    log.info("judge: mean rating %s over %d/%d answers (%d unparsed)",
             f"{o['mean']:.3f}" if o["mean"] is not None else "n/a", o["n_rated"], o["n"], o["n_unparsed"])
    for cat, s in summary["per_category"].items():
        log.info("  %-30s %s (n=%d, unparsed=%d)", cat, f"{s['mean']:.3f}" if s["mean"] is not None else "n/a",
                 s["n"], s["n_unparsed"])
finish(__name__)
