"""Rule iterit_model: an IterIT run's model (its last epoch's weights and tokenizer) where every
fine-tune's model lives, for the engine's scoring and benchmark rules; its training summary
gathers the epochs'."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import read_json, write_json
from sftmix.sft import publish_model

log = setup_logging(snakemake.log[0])  # noqa: F821
files = publish_model(snakemake.input.last, snakemake.output.model)  # noqa: F821
epochs = [read_json(p) for p in snakemake.params.epochs]  # noqa: F821
train = [e["train"] for e in epochs]
summary = {"epochs": len(epochs), "steps": train[-1]["steps"], "steps_run": sum(t["steps_run"] for t in train),
           "n_trained_examples": sum(t["n_trained_examples"] for t in train),
           "loss_history": [h for t in train for h in t["loss_history"]],
           "train_loss_per_epoch": [t["train_loss"] for t in train],
           "selected_per_epoch": [e["m"] - e["selection"]["shortfall"] for e in epochs],
           "runtime_s": round(sum(t["runtime_s"] for t in train), 2), "seed": train[-1]["seed"]}
write_json(snakemake.output.summary, summary)  # noqa: F821
log.info("iterit_model: %s -> %s (%d files); %d epochs, %d steps", snakemake.input.last,  # noqa: F821
         snakemake.output.model, len(files), len(epochs), summary["steps_run"])  # noqa: F821
finish(__name__)
