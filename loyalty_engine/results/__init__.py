"""Program results: what every offer did, measured against its randomized hold-out.

``lift`` (per-offer / per-cell lift, pooled lift), ``estimators`` (the statistics, pure
numpy), ``inputs`` (reading targeted pairs and outcomes), ``measures`` (delivery,
redemptions and money by offer, cell, store, week and stage), ``store`` (computing a
period and storing it for the CLI and console), ``lifecycle`` (stage history and win-back).
"""
