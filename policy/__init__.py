"""modelstack's policy pack: rules every stack's resources must follow (see rules.py).

A package so the offline plan can import the rules; the Pulumi CLI runs `__main__.py`.
"""
