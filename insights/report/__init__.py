"""The insight report: one self-contained HTML file (plus optional JSON) about a shop.

One module per section (`overview`, `segments`, `clusters`, `cohorts`, `funnel`,
`attribution`, `channels`, `churn`), each turning the workspace tables into a `Section` of
tables, charts and computed takeaways; `html` assembles them and `build.build_report` runs it.
"""
