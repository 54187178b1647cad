"""What readers see: the summary at a terminal (summary.py), and the commission's static report
site written at each publication (site.py: pages; charts.py: Vega-Lite specs; scorecard.py: the
考核 table and its colouring rule; lineage.py: per-figure lineage pages; data.py: what is read)."""
