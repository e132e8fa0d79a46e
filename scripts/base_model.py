"""Rule base_model: tokenizer + small Llama pretrained on the world's raw text (embedded default)."""

from sftmix.basemodel import build_model, pretrain, train_tokenizer
from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.records import read_jsonl, user_text, write_json

log = setup_logging(snakemake.log[0])  # noqa: F821
offline_env()
limit_threads(snakemake.threads)  # noqa: F821
cfg, seed = snakemake.params.cfg, snakemake.params.seed  # noqa: F821
eval_ids = {r["id"] for p in snakemake.input.eval for r in read_jsonl(p)}  # noqa: F821
records = [r for r in read_jsonl(snakemake.input.records) if r["id"] not in eval_ids]  # noqa: F821
records.sort(key=lambda r: r["id"])
# Raw text = the user side (questions, passages, code); responses carry the latent facts the
# interaction experiments are about, so the base model must not have seen them.
raw = [user_text(r) for r in records]
# The tokenizer learns from the same raw text: trained on responses too, it would turn each
# latent fact's answer (a transformed string, a knowledge-base value) into one rare token of its
# own, which the base model never saw and fine-tuning can hardly place.
tokenizer = train_tokenizer(raw, cfg["vocab_size"])
log.info("tokenizer: %d tokens (trained on the raw text of %d non-eval records)", len(tokenizer), len(records))
model = build_model(tokenizer, cfg["arch"], seed)
p = cfg["pretrain"]
summary = pretrain(model, tokenizer, raw, snakemake.output.model, steps=p["steps"],  # noqa: F821
                   batch_size=p["batch_size"], lr=p["lr"], block_size=p["block_size"], seed=seed,
                   threads=snakemake.threads, checkpoint_dir=snakemake.params.checkpoints,  # noqa: F821
                   save_steps=max(50, p["steps"] // 4))
summary["vocab_size"] = len(tokenizer)
write_json(snakemake.output.summary, summary)  # noqa: F821
log.info("base model: %d parameters, %d steps on %d blocks, final loss %.3f", summary["n_params"],
         summary["steps"], summary["n_blocks"], summary["final_logged_loss"])
finish(__name__)
