"""Rule iterit_proxy_ifd: IFD of every pool record under Superfiltering's small proxy model."""

import os

from sftmix.logutil import finish, limit_threads, offline_env, setup_logging
from sftmix.records import read_jsonl

log = setup_logging(snakemake.log[0])  # noqa: F821
cfg, model_path = snakemake.params.quality, str(snakemake.params.model)  # noqa: F821
if os.path.isdir(model_path):
    offline_env()
limit_threads(snakemake.threads)  # noqa: F821
from sftmix.quality import ifd_scores, ifd_valid, write_ifd_table  # noqa: E402
from sftmix.scoring import load_causal_lm  # noqa: E402

records = list(read_jsonl(snakemake.input.pool))  # noqa: F821
model, tokenizer = load_causal_lm(model_path, device=cfg["device"], dtype=cfg["dtype"])
ifd = ifd_scores(model, tokenizer, records, batch_size=cfg["batch_size"], max_length=cfg["max_length"],
                 device=cfg["device"], progress=True)
n = write_ifd_table(snakemake.output[0], ifd)  # noqa: F821
aligned = sum(1 for v in ifd.values() if ifd_valid(v.get("ifd", float("nan"))))
log.info("proxy IFD (%s): in=%d scored=%d aligned (IFD < 1)=%d unaligned_or_nan=%d", model_path, len(records), n,
         aligned, n - aligned)
finish(__name__)
