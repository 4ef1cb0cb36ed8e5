# Probes (config key `probes`): each named probe against every objective x regulariser pair of the
# grid. A job writes its probe directory, <probe>/<objective>/<regulariser>/s<seed>/, and then its
# record beside it, a copy of probe.json: the record is the job's only declared output, so Snakemake
# never deletes a probe's files, and a finished probe directory is never rerun (benchsuite probe
# leaves it as it is).

from benchsuite.probes._pipeline import probe_jobs

try:
    PROBE_JOBS = probe_jobs(config, GRID, budget=BUDGET)
except ConfigError as error:
    raise WorkflowError(f"bad pipeline config: {error}") from None
PROBES = f"{RESULTS}/probes"
PROBE_RECORDS = [f"{PROBES}/{name}.json" for name in PROBE_JOBS]


def probe_job(wildcards):
    name = f"{wildcards.probe}/{wildcards.objective}/{wildcards.regulariser}/s{wildcards.seed}"
    try:
        return PROBE_JOBS[name]
    except KeyError:
        raise WorkflowError(f"{name} is not a probe job of this config; ask for the pipeline's targets") from None


rule probe:
    output:
        record=f"{PROBES}/{{probe}}/{{objective}}/{{regulariser}}/s{{seed}}.json",
    log:
        f"{LOGS}/probe/{{probe}}/{{objective}}/{{regulariser}}/s{{seed}}.log",
    wildcard_constraints:
        probe=_one_of([job.probe for job in PROBE_JOBS.values()] or ["-"]),
        seed=r"\d+",
    params:
        cli=CLI,
        arguments=lambda wildcards: grid_module.shell_words(probe_job(wildcards).arguments),
        out=lambda wildcards, output: shlex.quote(output.record.removesuffix(".json")),
    threads: config["threads"]
    resources:
        gpu=GPU,
        **limits("probe"),
    conda:
        "../envs/train.yaml"
    shell:
        "{params.cli} probe {params.arguments} --out {params.out} --device {DEVICE} > {log:q} 2>&1 "
        "&& cp {params.out}/probe.json {output.record:q}"
