"""sftmix: instruction-category interaction research as plain, typed functions.

The Snakemake workflow (Snakefile, rules/, scripts/) is thin glue over this package.
Nothing in here imports Snakemake.
"""

__version__ = "0.1.0"
