# Train and evaluate. A train job trains the unfinished seeds of one configuration in one process
# (benchsuite train --seeds; config key seeds_together) and ends by writing its record,
# <cell>/seeds-<seeds>.json: the record is the job's only declared output, so Snakemake never
# deletes a run's files, and an interrupted job resumes its runs from their checkpoints.

TRAIN_RECORD_OF, TRAIN_JOBS = grid_module.train_jobs(GRID, RUNS, config["seeds_together"])
CELL = "{dataset}/{architecture}/{objective}/{regulariser}"


wildcard_constraints:
    seeds=r"[0-9][0-9_\-]*(?:-[0-9a-f]{8})?",


def train_job(wildcards):
    record = f"{CELL.format(**wildcards)}/{grid_module.RECORD_PREFIX}{wildcards.seeds}.json"
    try:
        return TRAIN_JOBS[record]
    except KeyError:
        raise WorkflowError(f"{record} is not a train job of this grid; ask for the pipeline's targets") from None


rule train:
    output:
        record=f"{RUNS}/{CELL}/{grid_module.RECORD_PREFIX}{{seeds}}.json",
    log:
        f"{LOGS}/train/{CELL}/{grid_module.RECORD_PREFIX}{{seeds}}.log",
    params:
        cli=CLI,
        arguments=lambda wildcards: grid_module.shell_words(train_job(wildcards).arguments),
        out=lambda wildcards, output: shlex.quote(os.path.dirname(output.record)),
        data_root=DATA_ROOT,
    threads: config["threads"]
    resources:
        gpu=GPU,
        runtime=lambda wildcards: limits("train", train_job(wildcards).size)["runtime"],
        mem_mb=limits("train")["mem_mb"],
    conda:
        "../envs/train.yaml"
    shell:
        "{params.cli} train {params.arguments} --out {params.out} --device {DEVICE} {params.data_root} --quiet "
        "--record {output.record:q} > {log} 2>&1"


rule evaluate:
    input:
        record=lambda wildcards: f"{RUNS}/{TRAIN_RECORD_OF[run_of(wildcards).run_id]}",
        reference=lambda wildcards: reference_for(wildcards.dataset),
    output:
        metrics=f"{RUNS}/{RUN}/metrics.json",
    log:
        f"{LOGS}/evaluate/{RUN}.log",
    params:
        cli=CLI,
        arguments=lambda wildcards: EVALUATION[wildcards.dataset],
        run_dir=lambda wildcards, output: shlex.quote(os.path.dirname(output.metrics)),
        data_root=DATA_ROOT,
    threads: config["threads"]
    resources:
        gpu=GPU,
        **limits("evaluate"),
    conda:
        "../envs/train.yaml"
    shell:
        "{params.cli} evaluate {params.run_dir} {params.arguments} --device {DEVICE} {params.data_root} > {log} 2>&1"
