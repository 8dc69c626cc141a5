"""Statistics, tables and the report over finished runs.

    from minaction.analysis.load import load_runs
    from minaction.analysis.analyze import analyze
    analysis = analyze(load_runs("runs.sqlite"))      # analysis.to_json(), or:
    from minaction.analysis.report import write_report

Modules: load (a results database → one DataFrame row per run), anova (factorial ANOVA, Type II
and III, sum-to-zero coding), sweep (the λ-sweep tables), efficiency (cost to a target accuracy
and gains over baselines), stats (intervals over seeds), analyze (all of it together), report
(one self-contained HTML page) and cli (`minaction analyze`, `minaction report`).
"""
