"""The benchsuite pipeline: grid -> train -> evaluate -> aggregate -> report.

    snakemake --cores 8                    # the default grid (config/config.yaml), offline, CPU or GPU
    snakemake --cores 8 --use-conda        # the same, each rule in its pinned environment from envs/
    snakemake --cores 8 --configfile config/cifar10.yaml --resources gpu=1   # a preset, alone

Everything lands under results/ (config key `results`); the report is results/report.html.
docs/pipeline.md explains the grid, the presets and how to read the report.
"""

from snakemake.utils import min_version, validate

min_version("9.0")


# A preset given with --configfile is a whole study: the default grid is read only when no config
# file was named, so its studies never leak into a preset (--config overrides apply either way).
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


include: "rules/common.smk"
include: "rules/train.smk"
include: "rules/reference.smk"
include: "rules/probes.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        REPORT,


onstart:
    # `device: cuda` cannot be checked while the Snakefile is read: the executor is not known yet,
    # and on a cluster the login node has no GPU. Here it is known; cluster jobs check on their node.
    if workflow.local_exec:
        try:
            grid_module.pick_device(config["device"], check=True)
        except ConfigError as error:
            raise WorkflowError(f"bad pipeline config: {error}") from None


onsuccess:
    print(f"\nThe report is {REPORT_PATH}")
