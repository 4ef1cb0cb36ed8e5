"""The benchsuite pipeline: grid -> train -> evaluate -> aggregate -> report.

    snakemake --cores 8                  the default grid (config/config.yaml), offline, CPU or GPU
    snakemake --cores 8 --use-conda      the same, each rule in its pinned environment from envs/
    snakemake --cores 8 --configfile config/cifar10.yaml      a preset

Everything lands under results/ (config key `results`); the report is results/report.html.
docs/pipeline.md explains the grid, the presets and how to read the report.
"""

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


include: "rules/common.smk"
include: "rules/train.smk"
include: "rules/reference.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        REPORT,


onsuccess:
    print(f"\nThe report is {REPORT_PATH}")
