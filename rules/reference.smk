# The classifier that image metrics extract features with, trained once per dataset (and per set of
# dataset options) into the cache before any run of the dataset is evaluated. The real data's
# reference statistics are cached by the first evaluation that needs them.

EXTRACTOR_DATASETS = grid_module.extractor_datasets(config, GRID)


def reference_for(dataset):
    return [f"{RESULTS}/reference/{dataset}.done"] if dataset in EXTRACTOR_DATASETS else []


rule reference:
    output:
        touch(f"{RESULTS}/reference/{{dataset}}.done"),
    log:
        f"{LOGS}/reference/{{dataset}}.log",
    params:
        commands=lambda wildcards: " && ".join(
            f"{CLI} train-extractor {arguments} --device {DEVICE} {DATA_ROOT} --quiet"
            for arguments in grid_module.extractor_arguments(GRID, wildcards.dataset)
        ),
    threads: config["threads"]
    resources:
        gpu=GPU,
        **limits("reference"),
    conda:
        "../envs/train.yaml"
    shell:
        "({params.commands}) > {log:q} 2>&1"
