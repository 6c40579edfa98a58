"""What the offline plan adds to a program run for review: policy results, comparison with another
commit, and the text / markdown / JSON renderings (see components/plan.py, the entry point)."""
