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
        "--record {output.record:q} > {log:q} 2>&1"


# One evaluate job per train job scores its runs in one process and writes <cell>/metrics-<seeds>.json;
# a run whose metrics.json is deleted is scored again by a job of its own.

EVALUATION_JOBS = grid_module.evaluation_jobs(GRID, RUNS, TRAIN_RECORD_OF)


def evaluation_job(wildcards):
    record = f"{CELL.format(**wildcards)}/{grid_module.METRICS_PREFIX}{wildcards.seeds}.json"
    try:
        return EVALUATION_JOBS[record]
    except KeyError:
        raise WorkflowError(f"{record} is not an evaluate job of this grid; ask for the pipeline's targets") from None


rule evaluate:
    input:
        records=lambda wildcards: [f"{RUNS}/{record}" for record in evaluation_job(wildcards).train_records],
        reference=lambda wildcards: reference_for(wildcards.dataset),
    output:
        record=f"{RUNS}/{CELL}/{grid_module.METRICS_PREFIX}{{seeds}}.json",
    log:
        f"{LOGS}/evaluate/{CELL}/{grid_module.METRICS_PREFIX}{{seeds}}.log",
    params:
        cli=CLI,
        arguments=lambda wildcards: EVALUATION[wildcards.dataset],
        run_dirs=lambda wildcards: " ".join(shlex.quote(f"{RUNS}/{run_id}") for run_id in evaluation_job(wildcards).runs),
        data_root=DATA_ROOT,
    threads: config["threads"]
    resources:
        gpu=GPU,
        runtime=lambda wildcards: limits("evaluate", evaluation_job(wildcards).size)["runtime"],
        mem_mb=limits("evaluate")["mem_mb"],
    conda:
        "../envs/train.yaml"
    shell:
        "{params.cli} evaluate {params.run_dirs} {params.arguments} --device {DEVICE} {params.data_root} "
        "--record {output.record:q} > {log:q} 2>&1"
