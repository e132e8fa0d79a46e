"""Write one params section as JSON: a file whose change (a config edit) reruns its dependents."""

from sftmix.logutil import finish, setup_logging
from sftmix.records import write_json

log = setup_logging(snakemake.log[0])  # noqa: F821
params = dict(snakemake.params.items())  # noqa: F821
(value,) = params.values()
write_json(snakemake.output[0], value)  # noqa: F821
log.info("wrote %s", snakemake.output[0])  # noqa: F821
finish(__name__)
