# Every run's metrics -> the two tables -> the report.

# The grid's runs reach the aggregate job in a file, one a line: on its command line a few thousand
# run directories would pass the shell's limit on one argument (128 KB). The file is named by a
# digest of what it lists, so a changed grid is a new file whatever Snakemake's rerun triggers.
RUN_LIST_TEXT = "".join(f"{RUNS}/{run_id}\n" for run_id in GRID.runs)
RUN_LIST = f"{RESULTS}/run-lists/{hashlib.sha256(RUN_LIST_TEXT.encode()).hexdigest()[:16]}.txt"


rule run_list:
    output:
        RUN_LIST,
    localrule: True
    run:
        io_module.write_text(output[0], RUN_LIST_TEXT)


rule aggregate:
    input:
        records=[f"{RUNS}/{record}" for record in EVALUATION_JOBS],
        run_list=RUN_LIST,
    output:
        runs=report(f"{TABLES}/runs.csv", caption="../report/runs.rst", category="Tables"),
        summary=report(f"{TABLES}/summary.csv", caption="../report/summary.rst", category="Tables"),
        curves=f"{TABLES}/curves.csv",
        budget=f"{TABLES}/budget.csv",
        published=report(f"{TABLES}/published.csv", caption="../report/published.rst", category="Tables"),
    log:
        f"{LOGS}/aggregate.log",
    resources:
        **limits("aggregate"),
    params:
        cli=CLI,
        tables=TABLES,
        baseline=shlex.quote(f"{config['aggregate']['baseline']['objective']}:{config['aggregate']['baseline']['regulariser']}"),
        better=" ".join(f"--better {shlex.quote(f'{k}={v}')}" for k, v in sorted(config["aggregate"]["better"].items())),
        at=shlex.quote(config["aggregate"].get("at", "last")),
        select=f"--select {shlex.quote(config['aggregate']['select'])}" if config["aggregate"].get("select") else "",
        # Which drawn setting each swept cell is: only the grid knows (benchsuite.sweep).
        sweeps=f"--sweeps {shlex.quote(json.dumps(SWEEPS, sort_keys=True))}" if SWEEPS else "",
        published=f"--published {shlex.quote(json.dumps(PUBLISHED, sort_keys=True))}" if PUBLISHED else "",
    conda:
        "../envs/report.yaml"
    shell:
        "{params.cli} aggregate --run-list {input.run_list:q} --out {params.tables:q} --baseline {params.baseline} "
        "--bootstrap {config[aggregate][bootstrap]} --confidence {config[aggregate][confidence]} "
        "--seed {config[aggregate][seed]} {params.better} --at {params.at} {params.select} {params.sweeps} "
        "{params.published} > {log:q} 2>&1"


rule report:
    input:
        runs=rules.aggregate.output.runs,
        summary=rules.aggregate.output.summary,
        curves=rules.aggregate.output.curves,
        budget=rules.aggregate.output.budget,
        published=rules.aggregate.output.published,
        template=os.path.join(BASEDIR, "report", "report.html.j2"),
        # Probes (rules/probes.smk): their records, so that the report waits for every probe.
        probes=PROBE_RECORDS,
    output:
        html=report(REPORT, caption="../report/report.rst", category="Report"),
        figures=report(
            directory(f"{RESULTS}/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        f"{LOGS}/report.log",
    resources:
        **limits("report"),
    params:
        cli=CLI,
        tables=TABLES,
        config=json.dumps(config, sort_keys=True),
        probes=f"--probes {shlex.quote(PROBES)}" if PROBE_JOBS else "",
    conda:
        "../envs/report.yaml"
    # The report's path goes to the terminal; everything else to the log.
    shell:
        "{params.cli} report --tables {params.tables:q} --out {output.html:q} --figures {output.figures:q} "
        "--template {input.template:q} --grid-config {params.config:q} {params.probes} 2> {log:q} | tee -a {log:q}"
