"""The insight report: one self-contained HTML file (plus optional JSON) about a shop, one
module per section; `build.build_report` runs it."""
