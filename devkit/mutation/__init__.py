"""Mutation testing of crdsync's engine and translate packages against the unit suite (`make mutation`).

__main__  the whole check: mutmut over crdsync/engine and crdsync/translate, its kill rates, then the named mutations
report    kill rates per package and overall from mutmut's results, mutation-results/summary.json, the survivors
named     hand-written mutations from tests/**/named_mutations.json, each of which the unit tests must catch

mutmut's own settings (what is mutated, which tests run, what is never mutated) are in pyproject.toml [tool.mutmut].
"""
