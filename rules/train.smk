# Train and evaluate one run. status.json is train's only declared output, written when the run
# ends: Snakemake never deletes a checkpoint, so an interrupted run resumes where it stopped.


rule train:
    output:
        status=f"{RUNS}/{RUN}/status.json",
    log:
        f"{LOGS}/train/{RUN}.log",
    params:
        cli=CLI,
        arguments=lambda wildcards: grid_module.shell_words(grid_module.train_arguments(run_of(wildcards))),
        out=lambda wildcards, output: shlex.quote(os.path.dirname(output.status)),
        data_root=DATA_ROOT,
    threads: config["threads"]
    resources:
        gpu=GPU,
    conda:
        "../envs/train.yaml"
    shell:
        "{params.cli} train {params.arguments} --out {params.out} --device {DEVICE} {params.data_root} --quiet "
        "> {log} 2>&1"


rule evaluate:
    input:
        status=f"{RUNS}/{RUN}/status.json",
        reference=lambda wildcards: reference_for(wildcards.dataset),
    output:
        metrics=f"{RUNS}/{RUN}/metrics.json",
    log:
        f"{LOGS}/evaluate/{RUN}.log",
    params:
        cli=CLI,
        arguments=lambda wildcards: EVALUATION[wildcards.dataset],
        run_dir=lambda wildcards, input: shlex.quote(os.path.dirname(input.status)),
        data_root=DATA_ROOT,
    threads: config["threads"]
    resources:
        gpu=GPU,
    conda:
        "../envs/train.yaml"
    shell:
        "{params.cli} evaluate {params.run_dir} {params.arguments} --device {DEVICE} {params.data_root} > {log} 2>&1"
