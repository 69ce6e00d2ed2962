"""One run: the pipeline that wires the stages (`pipeline`), the scheduler and each chain's steps (`scheduler`), a
chain's running state (`accumulate`, `lineage`), landing and recording the outputs (`landing`), the ensemble
outputs (`ensembles`), what the run did (`summary`), its scratch file and lock, and the zonal step at the end.
"""
